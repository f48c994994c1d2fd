//! Times the pieces of a pretraining step at batch 32: data, each task's
//! taped forward + backward, and the whole five-task step.
//!
//! `cargo run --release -p meltr-cli --example step_time`
use meltr::aux_task::TaskSet;
use meltr::backbone::{BackboneConfig, VideoText};
use meltr::world::World;
use meltr_align as _;
use meltr_cmfm as _;
use meltr_cmlm as _;
use meltr_mixup as _;
use meltr_rotation as _;
use std::time::Instant;

fn main() {
    let b: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let reps = 20;
    let world = World::new(0);
    let t = Instant::now();
    for i in 0..reps {
        std::hint::black_box(world.pretrain_batch(i, b));
    }
    println!(
        "data      {:7.2} ms",
        t.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
    let batch = world.pretrain_batch(0, b);
    let model = VideoText::new(BackboneConfig::default(), 0);
    println!("params    {}", model.num_params());
    let names = meltr::pretrain::DEFAULT_TASKS;
    let only = std::env::var("TASKS").ok();
    let lists: Vec<Vec<&str>> = match &only {
        Some(t) => vec![t.split(',').collect()],
        None => names
            .iter()
            .map(|n| vec![*n])
            .chain([names.to_vec()])
            .collect(),
    };
    for n in lists {
        let set = TaskSet::from_names(&n).unwrap();
        let k = set.len();
        let _ = set
            .forward_taped(&model, model.params(), &batch, 0)
            .unwrap()
            .backward(&vec![1.0; k]);
        let t = Instant::now();
        for i in 0..reps {
            let _ = set.losses_at(&model, model.params(), &batch, i).unwrap();
        }
        let fwd = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
        let (mut tf, mut tb) = (0.0, 0.0);
        for i in 0..reps {
            let t = Instant::now();
            let taped = set
                .forward_taped(&model, model.params(), &batch, i)
                .unwrap();
            tf += t.elapsed().as_secs_f64();
            let t = Instant::now();
            std::hint::black_box(taped.backward(&vec![1.0; k]).unwrap());
            tb += t.elapsed().as_secs_f64();
        }
        let (tf, tb) = (tf * 1e3 / reps as f64, tb * 1e3 / reps as f64);
        println!(
            "{:<40} forward {fwd:6.2} ms | taped forward {tf:6.2} ms + backward {tb:6.2} ms = {:6.2} ms",
            n.join("+"),
            tf + tb
        );
    }
}
