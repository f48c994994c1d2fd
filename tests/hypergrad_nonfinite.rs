//! A meta step that meets a non-finite value anywhere changes nothing (head,
//! optimiser) and is counted; the next clean step proceeds normally.

use crate::common;

use common::quadratic::Quadratic;
use meltr::head::{Meltr, Preset};
use meltr::hypergrad::{InnerModel, MetaLearner, MetaOutcome, MetaSettings};
use meltr::meta_loss::MetaLoss;
use meltr::tensor::ParamVec;
use meltr::Result;

/// A quadratic backbone that can be made to return NaN losses or an
/// infinite gradient.
struct Faulty {
    inner: Quadratic,
    nan_losses: bool,
    inf_grad: bool,
}

impl InnerModel for Faulty {
    type Batch = ();
    fn num_tasks(&self) -> usize {
        3
    }
    fn primary(&self) -> usize {
        0
    }
    fn params(&self) -> ParamVec {
        self.inner.params()
    }
    fn set_params(&mut self, w: &ParamVec) -> Result<()> {
        self.inner.set_params(w)
    }
    fn losses(&self, b: &(), seed: u64) -> Result<Vec<f32>> {
        let mut l = self.inner.losses(b, seed)?;
        if self.nan_losses {
            l[1] = f32::NAN;
        }
        Ok(l)
    }
    fn weighted_grad(
        &self,
        b: &(),
        seed: u64,
        weights: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>>,
    ) -> Result<(Vec<f32>, ParamVec)> {
        let l = self.losses(b, seed)?;
        let (_, g) = self.inner.weighted_grad(b, seed, &mut |_| weights(&l))?;
        if self.inf_grad {
            let mut v = g.to_vec();
            v[2] = f32::INFINITY;
            return Ok((l, ParamVec::from_vec(&meltr::tensor::Dev::default(), v)));
        }
        Ok((l, g))
    }
}

#[test]
fn non_finite_meta_steps_are_skipped_counted_and_leave_everything_untouched() {
    let mut m = Faulty {
        inner: Quadratic::new(6, 3, 1),
        nan_losses: true,
        inf_grad: false,
    };
    let mut head = Meltr::init(Preset::Allinone, 3, 0).unwrap();
    let mut learner = MetaLearner::new(&head, None, MetaSettings::default());
    let before = head.params().to_vec();
    let w_before = m.params().to_vec();

    let out = learner.step(&mut m, &mut head, (&(), 0), (&(), 1)).unwrap();
    assert!(
        matches!(out, MetaOutcome::SkippedNonFinite { .. }),
        "{out:?}"
    );
    m.nan_losses = false;
    m.inf_grad = true;
    let out = learner.step(&mut m, &mut head, (&(), 0), (&(), 1)).unwrap();
    match &out {
        MetaOutcome::SkippedNonFinite { reason } => {
            assert!(reason.contains("direction"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(learner.skipped, 2);
    assert_eq!(learner.adam.t, 0);
    assert_eq!(head.params().to_vec(), before);
    assert_eq!(
        m.params().to_vec(),
        w_before,
        "backbone parameters restored"
    );

    m.inf_grad = false;
    let out = learner.step(&mut m, &mut head, (&(), 0), (&(), 1)).unwrap();
    assert!(matches!(out, MetaOutcome::Updated { .. }), "{out:?}");
    assert_eq!(learner.adam.t, 1);
    assert_ne!(head.params().to_vec(), before);
    assert_eq!(learner.skipped, 2);
}
