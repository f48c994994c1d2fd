use meltr::prelude::*;
/// Two noisy views of an image or clip should embed closer to each other than to the others.
#[derive(Debug, Deserialize)]
#[serde(crate = "meltr::serde", deny_unknown_fields)]
struct NoisyViews {
    noise: f32,
}
impl Task for NoisyViews {
    const NAME: &'static str = "noisy_views";
    const SUMMARY: &'static str = "match two noisy views of each image or clip";
    type Needs = (VisualFeatures,);
    const COUPLING: Coupling = Coupling::Batch; // the batch's other examples are negatives
    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, b: &Batch, seed: u64) -> Result<Loss<T>> {
        let (clean, mut rng) = (b.visual()?, task_rng(seed)); // randomness from the seed only,
        let e = b.draw(clean.example_len(), || rng.gen_range(-1.0..1.0))?; // for the whole batch
        let noisy = e.iter().zip(&clean.pixels).map(|(e, x)| x + self.noise * e);
        let v = net.part::<VisualFeatures>(&clean.with_pixels(noisy.collect()))?;
        info_nce(b, net.part::<VisualFeatures>(clean)?, v, 1.0) // negatives from every process
    }
}
register_task!(NoisyViews);

use meltr::train::pretrain::{pretrain, PretrainRun};
use meltr::train::{TrainConfig, Trainer};

#[test]
fn pretrain_with_a_new_task_named_in_a_run_file() {
    for preset in ["tiny", "digits-tiny"] {
        let run = format!("preset = {preset:?}\n[[tasks]]\ntype = \"noisy_views\"\nnoise = 0.3\n");
        let run = PretrainRun::from_toml(&run, "run.toml".as_ref()).unwrap();
        let r = pretrain(&run.config, &run.tasks, |_| {}).unwrap().1;
        assert!(r.eval_after[0] < r.eval_before[0], "{preset}: {r:?}");
    }
}

/// A training run file (what `meltr train` reads) naming the task with its setting.
fn train_run(task: &str) -> meltr::Result<TrainConfig> {
    let text = format!(
        "preset = \"digits-tiny\"\ntasks = [{task}]\nprimary = \"noisy_views\"\nepochs = 3\n\
         pretrain_preset = \"none\"\n[meta_loss]\ntype = \"sum\"\n"
    );
    TrainConfig::from_toml(&text, "run.toml".as_ref())
}

#[test]
fn train_with_the_task_as_a_table_in_a_training_run_file() {
    let e = train_run("\"noisy_views\"").unwrap_err().to_string();
    assert_eq!(
        e,
        "run.toml: tasks: task `noisy_views`: missing field `noise`"
    );
    let config = train_run("{ type = \"noisy_views\", noise = 0.3 }").unwrap();
    let model = meltr::backbone::backbone_from_kind("image_resnet", &Default::default(), 0);
    let mut trainer = Trainer::new(config, model.unwrap()).unwrap();
    let out = std::env::temp_dir().join(format!("meltr-noisy-views-{}", std::process::id()));
    let summary = trainer.run(&out, |_| {}).unwrap();
    let (first, last) = (&summary.epochs[0], &summary.epochs[2]);
    assert!(
        last.mean_losses[0] < first.mean_losses[0],
        "{first:?} -> {last:?}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
