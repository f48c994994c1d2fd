//! Bad input around tasks and run files: each error names what is wrong.

use meltr::aux_task::{build_task, TaskSet};
use meltr::backbone::Backbone;
use meltr::domains::video_text::world::World;
use meltr::domains::video_text::{BackboneConfig, VideoText};
use meltr::prelude::*;
use meltr::train::pretrain::PretrainRun;
use meltr::train::TrainConfig;

/// A test task that needs the rotation head and has one setting.
#[derive(Debug, Default, Deserialize)]
#[serde(crate = "meltr::serde", deny_unknown_fields, default)]
struct Spin {
    scale: f32,
}

impl Task for Spin {
    const NAME: &'static str = "spin";
    const SUMMARY: &'static str = "test task";
    type Needs = (RotationLogits,);
    fn validate(&self) -> Result<()> {
        if !self.scale.is_finite() {
            return Err(invalid("scale", self.scale, "must be a number"));
        }
        Ok(())
    }
    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, b: &Batch, _: u64) -> Result<Loss<T>> {
        Ok(net
            .part::<RotationLogits>(b.visual()?)?
            .square()
            .mean::<Rank0, _>()
            * self.scale)
    }
}

register_task!(Spin);

fn err_of(text: &str) -> String {
    PretrainRun::from_toml(text, "run.toml".as_ref())
        .unwrap_err()
        .to_string()
}

#[test]
fn unknown_task_lists_the_known_ones() {
    let e = build_task("nope", &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unknown task `nope`") && e.contains("spin"),
        "{e}"
    );
    let e = err_of("[[tasks]]\ntype = \"nope\"\n");
    assert!(e.contains("unknown task `nope`"), "{e}");
}

#[test]
fn run_file_mistakes_are_named() {
    let e = err_of("stepz = 3\n[[tasks]]\ntype = \"spin\"\n");
    assert!(e.contains("stepz") && e.contains("run.toml"), "{e}");
    let e = err_of("[[tasks]]\ntype = \"spin\"\nscael = 1.0\n");
    assert!(e.contains("task `spin`") && e.contains("scael"), "{e}");
    let e = err_of("[[tasks]]\nscale = 1.0\n");
    assert!(e.contains("missing `type`"), "{e}");
    let e = err_of("steps = \"many\"\n[[tasks]]\ntype = \"spin\"\n");
    assert!(e.contains("steps"), "{e}");
    let e = err_of("preset = \"huge\"\n[[tasks]]\ntype = \"spin\"\n");
    assert!(e.contains("huge") && e.contains("quick"), "{e}");
    let e = err_of("lr = -1.0\n[[tasks]]\ntype = \"spin\"\n");
    assert!(e.contains("lr = -1") && e.contains("positive"), "{e}");
    let e = err_of("steps = 1\n[[tasks]]\ntype = \"spin\"\n\n[backbone]\nrotation_hed = false\n");
    assert!(e.contains("rotation_hed") && e.contains("run.toml"), "{e}");
    let e = err_of("this is not toml");
    assert!(e.contains("run.toml"), "{e}");
}

#[test]
fn training_run_files_take_names_and_tables_checked_when_read() {
    let run = |tasks: &str| {
        let text = format!(
            "preset = \"digits-tiny\"\nprimary = \"spin\"\n{tasks}\n[meta_loss]\ntype = \"sum\"\n"
        );
        TrainConfig::from_toml(&text, "run.toml".as_ref())
    };
    let c = run(r#"tasks = ["spin", { type = "spin", scale = 2.0 }]"#).unwrap();
    assert_eq!(c.task_names(), ["spin", "spin"]);
    assert_eq!(c.tasks[1].settings["scale"].as_float(), Some(2.0));
    let back = TrainConfig::from_toml(&c.to_toml(), "again.toml".as_ref()).unwrap();
    assert_eq!(back.tasks, c.tasks);
    let c = run("[[tasks]]\ntype = \"spin\"\nscale = 3.0\n").unwrap();
    assert_eq!(c.tasks[0].settings["scale"].as_float(), Some(3.0));

    let e = run(r#"tasks = [{ type = "spin", scale = nan }]"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "run.toml: tasks: task `spin`: scale = NaN: must be a number"
    );
    let e = run(r#"tasks = [{ type = "spin", scael = 1.0 }]"#)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("run.toml: tasks: task `spin`: unknown field `scael`"),
        "{e}"
    );
    let e = run(r#"tasks = [{ scale = 1.0 }]"#).unwrap_err().to_string();
    assert!(
        e.contains("run.toml") && e.contains("missing `type`"),
        "{e}"
    );
}

#[test]
fn a_task_the_backbone_cannot_serve_is_refused_by_name() {
    let model = VideoText::new(
        BackboneConfig {
            rotation_head: false,
            ..Default::default()
        },
        0,
    );
    let set = TaskSet::from_names(&["spin"]).unwrap();
    let e = set.check_served(&model).unwrap_err().to_string();
    assert!(
        e.starts_with("task `spin` needs the backbone's `rotation_logits`"),
        "{e}"
    );
}

#[test]
fn task_set_checks_weights_and_batches() {
    let model = VideoText::new(BackboneConfig::default(), 0);
    let set = TaskSet::from_names(&["spin"]).unwrap();
    let batch = World::new(0).pretrain_batch(0, 2);
    let taped = set
        .forward_taped(&model, model.params(), &batch, 0)
        .unwrap();
    let e = taped.backward(&[1.0, 2.0]).unwrap_err().to_string();
    assert!(
        e.contains("task weights") && e.contains("expected 1"),
        "{e}"
    );
    let empty = Batch::default();
    let e = set
        .losses_at(&model, model.params(), &empty, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("batch"), "{e}");
}

#[test]
fn a_task_reading_an_input_the_batch_lacks_is_named() {
    // The digits carry no captions: a caption task is refused by name.
    let data = meltr::dataset::dataset_by_name("digits", 0).unwrap();
    let batch = data.batch(meltr::dataset::Split::Train, &[0, 1]);
    let model = VideoText::new(BackboneConfig::default(), 0);
    let set = TaskSet::new(vec![Box::new(Spin { scale: 1.0 })]);
    let e = set
        .losses_at(&model, model.params(), &batch, 0)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("visual input") && e.contains("(1, 1, 8, 8)"),
        "{e}"
    );
}

#[test]
fn taped_backward_with_weights_is_the_weighted_sum_of_single_gradients() {
    let model = VideoText::new(BackboneConfig::default(), 0);
    let set = TaskSet::new(vec![
        Box::new(Spin { scale: 1.0 }),
        Box::new(Spin { scale: 2.0 }),
    ]);
    let batch = World::new(0).pretrain_batch(0, 4);
    let w = model.params();
    let g = set
        .forward_taped(&model, w, &batch, 3)
        .unwrap()
        .backward(&[0.5, -1.5])
        .unwrap();
    let (_, g0) = set.task_grad(&model, w, &batch, 3, 0).unwrap();
    let (_, g1) = set.task_grad(&model, w, &batch, 3, 1).unwrap();
    let expect = g0.add_scaled(1.0, &g0).add_scaled(-1.0, &g0); // g0, via axpy
    let expect = {
        let mut e = expect;
        e.scale(0.5);
        e.axpy(-1.5, &g1);
        e
    };
    let diff = g.add_scaled(-1.0, &expect).norm() / expect.norm();
    assert!(diff < 1e-5, "relative difference {diff}");
}
