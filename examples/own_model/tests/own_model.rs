//! Our own model and task inside meltr: the backbone contract, the
//! gradient, and a run of meltr's trainer from the committed run file
//! (shortened) that resumes from its checkpoint.

use meltr::aux_task::TaskSet;
use meltr::backbone::parts::{ClassLogits, RotationLogits, VisualFeatures};
use meltr::backbone::{load_backbone, save_backbone, Backbone, Visual};
use meltr::dataset::{dataset_by_name, Split};
use meltr::dfdx::shapes::HasShape;
use meltr::tensor::ParamVec;
use meltr::train::{Metrics, TrainConfig, Trainer};
use meltr_example_own_model::{run_file, Consistency, OwnMlp, KIND};
use rand::{Rng, SeedableRng};
use std::path::PathBuf;

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("meltr-own-model-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn accuracy(m: &Metrics) -> f32 {
    match m {
        Metrics::Classification(c) => c.accuracy,
        other => panic!("digits are scored by accuracy, got {other:?}"),
    }
}

#[test]
fn the_model_keeps_its_parameters_in_one_flat_vector() {
    let model = OwnMlp::new(3);
    assert_eq!(model.layout().num_params(), model.params().len());
    assert_eq!(
        model.params().len(),
        64 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10 + 32 * 16 + 16
    );
    let served: Vec<&str> = model.provides().iter().map(|p| p.name).collect();
    assert_eq!(served, ["visual_features", "class_logits", "projection"]);
    for part in model.provides() {
        for block in model.probe_blocks(part) {
            assert!(model.layout().get(block).is_some(), "{part}: {block}");
        }
    }
    assert_eq!(OwnMlp::new(3).params().to_vec(), model.params().to_vec());
    assert_ne!(OwnMlp::new(4).params().to_vec(), model.params().to_vec());

    // A backbone file is read back as the same model, through the registered kind.
    let dir = out_dir("file");
    std::fs::create_dir_all(&dir).unwrap();
    save_backbone(&model, &dir.join("b.safetensors")).unwrap();
    let back = load_backbone(&dir.join("b.safetensors")).unwrap();
    assert_eq!((back.kind(), back.layout()), (KIND, model.layout()));
    assert_eq!(back.params().to_vec(), model.params().to_vec());

    // Parts: features (b, 32), logits (b, 10); other inputs are refused by shape.
    let data = dataset_by_name("digits", 0).unwrap();
    let batch = data.batch(Split::Train, &[0, 1, 2]);
    let net = model.net_free(model.params());
    let v = batch.visual().unwrap();
    assert_eq!(net.part::<VisualFeatures>(v).unwrap().shape(), &(3, 32));
    assert_eq!(net.part::<ClassLogits>(v).unwrap().shape(), &(3, 10));
    let z = net
        .part::<meltr_projection_contrast::Projection>(v)
        .unwrap();
    assert_eq!(z.shape(), &(3, 16));
    let rgb = Visual {
        pixels: vec![0.0; 3 * 64],
        channels: 3,
        ..v.clone()
    };
    let e = net.part::<ClassLogits>(&rgb).err().unwrap().to_string();
    assert!(e.contains("1x3x8x8"), "{e}");
    let e = net.part::<RotationLogits>(v).err().unwrap().to_string();
    assert_eq!(e, "the backbone has no `rotation_logits`");
    let short = ParamVec::from_vec(&meltr::tensor::device(), vec![0.0; 5]);
    assert!(model.net_free(&short).part::<ClassLogits>(v).is_err());
}

#[test]
fn the_taped_gradient_matches_a_central_difference() {
    let model = OwnMlp::new(1);
    let data = dataset_by_name("digits", 0).unwrap();
    let batch = data.batch(Split::Train, &(0..16).collect::<Vec<_>>());
    // The sum of the built-in classification loss, our own task's, and the
    // plugin task's that reads our projection head.
    let run: TrainConfig = TrainConfig::from_toml(
        "preset = \"digits-tiny\"\nprimary = \"classify\"\n\
         tasks = [\"classify\", \"consistency\", { type = \"projection_contrast\", temperature = 0.5 }]\n\
         [meta_loss]\ntype = \"sum\"\n",
        "run.toml".as_ref(),
    )
    .unwrap();
    let tasks = TaskSet::from_specs(&run.tasks).unwrap();
    let loss = |w: &ParamVec| -> f64 {
        let l = tasks.losses_at(&model, w, &batch, 7).unwrap();
        l.iter().map(|&x| x as f64).sum()
    };
    let w = model.params().clone();
    let g = tasks
        .forward_taped(&model, &w, &batch, 7)
        .unwrap()
        .backward(&[1.0, 1.0, 1.0])
        .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let v: Vec<f32> = (0..w.len()).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let v = ParamVec::from_vec(&meltr::tensor::device(), v);
    let exact = g.dot(&v) as f64;
    // The best of three steps: f32 round-off spoils small ones, the ReLU
    // kinks large ones; a wrong gradient disagrees at every step.
    let (fd, rel) = [1e-2f32, 3e-3, 1e-3]
        .map(|k| {
            let eps = k * w.norm() / v.norm();
            let fd =
                (loss(&w.add_scaled(eps, &v)) - loss(&w.add_scaled(-eps, &v))) / (2.0 * eps as f64);
            (fd, (fd - exact).abs() / exact.abs())
        })
        .into_iter()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert!(
        rel < 1e-2,
        "directional derivative {exact}, central difference {fd} ({rel:.2e} rel)"
    );
}

#[test]
fn our_task_meets_the_task_contract() {
    // Registered, configurable, seeded, taped == free, gradient checked and
    // trainable, on the built-in backbones that have a classifier.
    meltr::testing::check_task::<Consistency>(0.9);
}

/// The committed run file, shortened for a test.
fn tiny() -> TrainConfig {
    let mut c = TrainConfig::load(&run_file()).unwrap();
    c.epochs = 6;
    c.eval_limit = Some(300);
    c
}

#[test]
fn trains_from_the_run_file_and_resumes_from_its_checkpoint() {
    let out = out_dir("run");
    let mut trainer = Trainer::new(tiny(), Box::new(OwnMlp::new(0))).unwrap();
    let before = accuracy(&trainer.evaluate(Split::Test).unwrap());
    let summary = trainer.run(&out, |_| {}).unwrap();
    assert_eq!(summary.tasks, ["classify", "mixup", "consistency"]);
    assert_eq!(summary.epochs.len(), 6);
    for e in &summary.epochs {
        assert!(
            e.mean_losses.iter().all(|l| l.is_finite() && *l >= 0.0),
            "{e:?}"
        );
        assert!(e.mean_weights.iter().all(|a| a.is_finite()), "{e:?}");
    }
    let first = &summary.epochs[0].mean_losses;
    let last = &summary.epochs[5].mean_losses;
    assert!(
        last[0] < first[0],
        "classification loss {first:?} -> {last:?}"
    );
    let after = accuracy(&summary.final_test);
    assert!((0.0..=100.0).contains(&after));
    assert!(
        after > 30.0 && after > before,
        "test accuracy {before} % -> {after} %"
    );
    assert_eq!(summary.skipped_steps, 0);
    for f in [
        "checkpoint.safetensors",
        "backbone.safetensors",
        "summary.json",
        "log.jsonl",
    ] {
        assert!(out.join(f).exists(), "{f}");
    }

    // Resume (the kind is rebuilt from the registry) and run one more epoch.
    let trained = trainer.model().params().to_vec();
    let mut more = tiny();
    more.epochs = 7;
    let mut resumed = Trainer::resume(more, &out.join("checkpoint.safetensors")).unwrap();
    assert_eq!(resumed.model().kind(), KIND);
    assert_eq!(resumed.model().params().to_vec(), trained);
    assert_eq!(accuracy(&resumed.evaluate(Split::Test).unwrap()), after);
    let again = resumed.run(&out, |_| {}).unwrap();
    assert_eq!(again.epochs.len(), 1);
    assert_eq!(again.epochs[0].epoch, 6);
    assert!(again.epochs[0].mean_losses.iter().all(|l| l.is_finite()));
    let _ = std::fs::remove_dir_all(&out);
}
