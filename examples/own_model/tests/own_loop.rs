//! Use MELTR in your own training loop: your dfdx module, your losses, your
//! optimiser; a MELTR head weighs the losses every step and learns, every
//! few steps, from a meta step through an `InnerModel` of your model.

use meltr::backbone::ModuleParams;
use meltr::dataset::{dataset_by_name, Split};
use meltr::dfdx::nn::Module as _;
use meltr::dfdx::optim::{Adam, AdamConfig, Optimizer};
use meltr::dfdx::prelude::*;
use meltr::head::{Meltr, Preset};
use meltr::hypergrad::{InnerModel, MetaLearner, MetaOutcome, MetaSettings};
use meltr::meta_loss::MetaLoss;
use meltr::tensor::{Dev, ParamVec};
use meltr_example_own_model::{Arch, MlpModule};
use rand::{Rng, SeedableRng};

/// Our batches: `n × 64` pixels and `n` labels.
struct Images {
    x: Vec<f32>,
    y: Vec<usize>,
}

/// Our model, and our K = 3 losses: cross-entropy (the primary), agreement
/// with a noisy view, and the entropy of the predictions.
struct Mine {
    net: MlpModule,
}

type Scalar<T> = Tensor<Rank0, f32, Dev, T>;

impl Mine {
    fn losses<T: Tape<f32, Dev>>(&self, b: &Images, seed: u64) -> Vec<Scalar<T>> {
        let (dev, n) = (meltr::tensor::device(), b.y.len());
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed); // all randomness from the seed
        let noisy: Vec<f32> = b.x.iter().map(|p| p + rng.gen_range(-0.2..0.2)).collect();
        let x = dev.tensor_from_vec(b.x.clone(), (n, Const::<64>));
        let noisy = dev.tensor_from_vec(noisy, (n, Const::<64>));
        let mut onehot = vec![0.0; n * 10];
        b.y.iter()
            .enumerate()
            .for_each(|(i, &c)| onehot[i * 10 + c] = 1.0);
        let onehot = dev.tensor_from_vec(onehot, (n, Const::<10>));
        // Each forward starts its own tape; the tapes merge when the losses are added.
        let ce = cross_entropy_with_logits_loss(self.net.forward(x.retaped::<T>()), onehot);
        let p = self.net.forward(x.retaped::<T>()).softmax::<Axis<1>>();
        let q = self.net.forward(noisy.retaped::<T>()).softmax::<Axis<1>>();
        let agree = (p - q).square().sum() / n as f32;
        let log_p = self.net.forward(x.retaped::<T>()).log_softmax::<Axis<1>>();
        let entropy = (log_p.retaped::<T>().exp() * log_p).sum().negate() / n as f32;
        vec![ce, agree, entropy]
    }

    fn accuracy(&self, b: &Images) -> f32 {
        let x = meltr::tensor::device().tensor_from_vec(b.x.clone(), (b.y.len(), Const::<64>));
        let logits = self.net.forward(x).as_vec();
        let hits = b.y.iter().enumerate().filter(|&(i, &c)| {
            let row = &logits[i * 10..(i + 1) * 10];
            (0..10).all(|k| k == c || row[k] < row[c])
        });
        100.0 * hits.count() as f32 / b.y.len() as f32
    }
}

/// `Σ_k a_k l_k`, the weights `a` taken as constants.
fn weighted_sum<T: Tape<f32, Dev>>(losses: Vec<Scalar<T>>, a: &[f32]) -> Scalar<T> {
    let mut terms = losses.into_iter().zip(a).map(|(l, &a)| l * a);
    let first = terms.next().expect("at least one loss");
    terms.fold(first, |total, t| total + t)
}

/// What the hypergradient engine needs: flat parameters, the K losses, and
/// the gradient of their weighted sum.
impl InnerModel for Mine {
    type Batch = Images;
    fn num_tasks(&self) -> usize {
        3
    }
    fn primary(&self) -> usize {
        0
    }
    fn params(&self) -> ParamVec {
        ModuleParams::flatten(&self.net)
    }
    fn set_params(&mut self, w: &ParamVec) -> meltr::Result<()> {
        ModuleParams::unflatten(&mut self.net, w)
    }
    fn losses(&self, b: &Images, seed: u64) -> meltr::Result<Vec<f32>> {
        Ok(self
            .losses::<NoneTape>(b, seed)
            .iter()
            .map(|l| l.array())
            .collect())
    }
    fn weighted_grad(
        &self,
        b: &Images,
        seed: u64,
        weights: &mut dyn FnMut(&[f32]) -> meltr::Result<Vec<f32>>,
    ) -> meltr::Result<(Vec<f32>, ParamVec)> {
        let losses = self.losses::<OwnedTape<f32, Dev>>(b, seed);
        let values: Vec<f32> = losses.iter().map(|l| l.array()).collect();
        let grads = weighted_sum(losses, &weights(&values)?).backward();
        Ok((values, ModuleParams::gradient(&self.net, grads)))
    }
}

#[test]
fn meltr_weighs_the_losses_of_your_own_loop() -> Result<(), Box<dyn std::error::Error>> {
    let data = dataset_by_name("digits", 0)?;
    let images = |split, idx: Vec<usize>| {
        let b = data.batch(split, &idx);
        let y = b.labels().unwrap().ids.clone();
        Images {
            x: b.visual.unwrap().pixels,
            y,
        }
    };
    let next_batch = |step: u64| {
        images(
            Split::Train,
            (0..10).map(|i| (step as usize * 10 + i) % 100).collect(),
        )
    };
    let held_out = |step: u64| {
        images(
            Split::Val,
            (0..10).map(|i| (step as usize + i * 15) % 150).collect(),
        )
    };
    let test = images(Split::Test, (0..300).collect());
    let mut mine = Mine {
        net: meltr::tensor::device().build_module::<Arch, f32>(),
    };
    let before = mine.accuracy(&test);
    let mut opt = Adam::new(
        &mine.net,
        AdamConfig {
            lr: 2e-3,
            ..Default::default()
        },
    );
    let head_at_start = Meltr::init(Preset::Allinone, 3, 0)?.params().to_vec();
    let mut updates = 0;

    let mut head = Meltr::init(Preset::Allinone, 3, 0)?;
    let mut learner = MetaLearner::new(&head, None, MetaSettings::default());
    for step in 0..120u64 {
        let batch = next_batch(step);
        let losses = mine.losses::<OwnedTape<f32, Dev>>(&batch, step); // your K losses
        let values: Vec<f32> = losses.iter().map(|l| l.array()).collect();
        let e = head.eval(&values)?; // f(l) and a = ∂f/∂l
        let grads = weighted_sum(losses, &e.weights).backward(); // Σ a_k l_k
        opt.update(&mut mine.net, &grads)?; // your optimiser
        if step % 3 == 2 {
            // the head learns from the primary loss on held-out data
            let w = mine.params();
            let out = learner.step(
                &mut mine,
                &mut head,
                (&held_out(step), step),
                (&batch, step),
            )?;
            updates += matches!(out, MetaOutcome::Updated { .. }) as usize;
            assert_eq!(mine.params().to_vec(), w.to_vec(), "the engine restores w");
        }
    }

    let after = mine.accuracy(&test);
    assert_eq!(updates, 40, "every meta step updated the head");
    assert_ne!(head.params().to_vec(), head_at_start, "the head learned");
    assert!(
        after > 50.0 && after > before + 20.0,
        "test accuracy {before} % -> {after} %"
    );
    Ok(())
}
