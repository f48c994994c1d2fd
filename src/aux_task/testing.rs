//! The contract every task crate tests: [`check_task`].

use super::{find_task, tasks_from_toml, AuxTask, Capability, TaskSet};
use crate::backbone::{BackboneConfig, ParamVec, VideoText};
use crate::pretrain::{pretrain, PretrainConfig};
use crate::world::World;

/// A parameter block of the reference backbone that a task needing `c` must read.
fn probe(c: Capability) -> &'static str {
    match c {
        Capability::TextEncoder => "text.token_embedding",
        Capability::VideoEncoder => "video.frame_embedding.weight",
        Capability::CrossEncoder => "cross.layer.ff1.weight",
        Capability::Retrieval => "align.video_proj.weight",
        Capability::MaskedTokenHead => "heads.mlm.weight",
        Capability::FrameHead => "heads.frame.weight",
        Capability::RotationHead => "heads.rotation.weight",
    }
}

/// For each part the task needs: its gradient block is non-zero, and the
/// central difference of the loss along that block (`v = g_B`, best of steps
/// `{1e-2, 1e-3, 1e-4}·‖w‖/‖v‖`) matches `‖g_B‖²` to 5 %.
fn check_gradient(set: &TaskSet, model: &VideoText, batch: &crate::world::Batch, g: &ParamVec) {
    let name = set.names()[0].clone();
    let w = model.params();
    let gv = g.to_vec();
    for c in set.tasks()[0].needs() {
        let p = model.layout().get(probe(c)).expect("probe block exists");
        let mut v = vec![0.0f32; gv.len()];
        v[p.offset..p.offset + p.block.len()]
            .copy_from_slice(&gv[p.offset..p.offset + p.block.len()]);
        let v = ParamVec::from_vec(model.dev(), v);
        let exact = v.dot(&v);
        assert!(
            exact > 0.0,
            "{name}: no gradient reaches {} (needed for {c})",
            p.block.name
        );
        // The best of three steps: f32 round-off spoils small steps,
        // curvature large ones; a wrong gradient disagrees at every step.
        let (fd, rel) = [1e-2f32, 1e-3, 1e-4]
            .into_iter()
            .map(|k| {
                let eps = k * w.norm() / v.norm();
                let up = set
                    .losses_at(model, &w.add_scaled(eps, &v), batch, 42)
                    .unwrap()[0] as f64;
                let down = set
                    .losses_at(model, &w.add_scaled(-eps, &v), batch, 42)
                    .unwrap()[0] as f64;
                let fd = (up - down) / (2.0 * eps as f64);
                (fd, (fd - exact as f64).abs() / exact as f64)
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("three steps");
        assert!(
            rel < 0.05,
            "{name}: along {}: central difference {fd}, gradient says {exact} ({rel:.3} rel)",
            p.block.name
        );
    }
}

/// Checks a task against the contract, panicking with a message on failure:
///
/// * it is registered under its name, builds from an empty config, refuses
///   an unknown field naming it, and survives a TOML round trip as
///   `Box<dyn AuxTask>` (typetag) with the same loss;
/// * its loss is finite, its tape-free value equals its taped value, the
///   same seed gives the same loss, and its gradient is finite and non-zero;
/// * the gradient reaches every part of the backbone the task says it
///   needs, and agrees there with a central difference of the loss;
/// * 200 steps of the task alone (batch 16, Adam lr 2e-3) bring its
///   held-out loss below `ratio` times its initial value.
pub fn check_task(task: Box<dyn AuxTask>, ratio: f32) {
    let name = task.name().to_string();
    let reg = find_task(&name).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reg.name, name, "registered name differs from AuxTask::name");
    let empty = toml::Value::Table(Default::default());
    let built = (reg.build)(&empty).unwrap_or_else(|e| panic!("{name}: default config: {e}"));
    assert_eq!(built.name(), name);
    let mut bad = toml::Table::new();
    bad.insert("no_such_field".into(), toml::Value::Integer(1));
    let err = super::build_task(&name, &toml::Value::Table(bad))
        .expect_err("an unknown field must be refused")
        .to_string();
    assert!(
        err.contains("no_such_field") && err.contains(&name),
        "{err}"
    );

    #[derive(serde::Serialize)]
    struct Run<'a> {
        tasks: Vec<&'a dyn AuxTask>,
    }
    let text = toml::to_string(&Run {
        tasks: vec![task.as_ref()],
    })
    .expect("serialises");
    let table: toml::Table = text.parse().expect("parses");
    let back = tasks_from_toml(table["tasks"].as_array().expect("array"))
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let typetag_back: Box<dyn AuxTask> =
        toml::from_str(&toml::to_string(&task).expect("serialises"))
            .unwrap_or_else(|e| panic!("typetag round trip of {name}: {e}"));

    let model = VideoText::new(BackboneConfig::default(), 1);
    let batch = World::new(1).pretrain_batch(3, 16);
    let set = TaskSet::new(vec![task]);
    set.check_served(&model).unwrap_or_else(|e| panic!("{e}"));
    let w = model.params();
    let free = set.losses_at(&model, w, &batch, 42).unwrap()[0];
    assert!(free.is_finite(), "{name}: loss {free}");
    assert_eq!(
        set.losses_at(&model, w, &batch, 42).unwrap()[0],
        free,
        "{name}: same seed, different loss"
    );
    let again = TaskSet::new(back).losses_at(&model, w, &batch, 42).unwrap()[0];
    assert_eq!(again, free, "{name}: run-file round trip changed the loss");
    let again = TaskSet::new(vec![typetag_back])
        .losses_at(&model, w, &batch, 42)
        .unwrap()[0];
    assert_eq!(again, free, "{name}: typetag round trip changed the loss");
    let taped = set.forward_taped(&model, w, &batch, 42).unwrap();
    let tv = taped.values()[0];
    assert!(
        (tv - free).abs() <= 1e-5 * free.abs().max(1.0),
        "{name}: taped {tv} vs free {free}"
    );
    let g = taped.backward(&[1.0]).unwrap();
    assert!(
        g.is_finite() && g.norm() > 0.0,
        "{name}: gradient norm {}",
        g.norm()
    );
    check_gradient(&set, &model, &batch, &g);

    let cfg = PretrainConfig {
        steps: 200,
        batch_size: 16,
        eval_size: 64,
        log_every: 50,
        ..PretrainConfig::preset("quick").unwrap()
    };
    let (_, r) = pretrain(&cfg, &set, |_| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (before, after) = (r.eval_before[0], r.eval_after[0]);
    eprintln!(
        "{name}: held-out loss {before:.4} -> {after:.4} in {} steps ({:.2} s; train {:.4} -> {:.4})",
        r.steps, r.seconds, r.first[0], r.last[0]
    );
    assert!(
        after < ratio * before,
        "{name}: held-out loss {before} -> {after}, wanted below {ratio} x"
    );
}
