//! `Meltr`: the MELTR head as a [`MetaLoss`].
//!
//! ```
//! use meltr::head::{Meltr, Preset};
//! use meltr::meta_loss::MetaLoss;
//! let head = Meltr::init(Preset::Allinone, 3, 1).unwrap();
//! let e = head.eval(&[0.7, 2.0, 0.1]).unwrap();
//! assert_eq!(e.weights.len(), 3);
//! assert!(e.value.is_finite());
//! ```

use super::engine::{HeadEngine, HeadGrads};
#[cfg(not(feature = "cuda"))]
use super::host::HostHead;
use super::init::init_weights;
use super::layout::{HeadLayout, Param};
#[cfg(feature = "cuda")]
use super::network::GraphHead;
use super::preset::Preset;
use super::weights::{HeadInfo, HeadWeights};
use crate::error::{Error, Result};
use crate::meta_loss::check_num_tasks;
use crate::meta_loss::{check_direction, check_losses, Evaluation, MetaLoss};
use crate::tensor::ParamBlock;
use crate::tensor::{device, ParamVec};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How the head is computed (docs/design.md §8): by hand on the host in the
/// CPU build, as a dfdx graph on the device in the CUDA build (where the
/// parameters and their optimiser stay on the GPU). Both are tested
/// against each other and against JAX.
#[cfg(not(feature = "cuda"))]
type Engine = HostHead;
#[cfg(feature = "cuda")]
type Engine = GraphHead;

/// The Meta Loss Transformer head (docs/design.md §1) as a loss combinator.
///
/// In a TOML run file:
///
/// ```toml
/// [meta_loss]
/// type = "meltr"
/// preset = "univl"   # univl | violet | allinone | paper
/// tasks = 5          # K, 1..=16
/// seed = 0           # initialisation
/// dropout = 0.0      # training-mode dropout in the encoder layer
/// output = "free"    # free | mix (see [`Output`])
/// # mix_bound = 2.0  # with mix: logits bounded to ±2, any two weights within e^4
/// # weights = "head.safetensors"   # start from saved weights instead
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "MeltrSpec", into = "MeltrSpec")]
pub struct Meltr {
    preset: Preset,
    num_tasks: usize,
    info: HeadInfo,
    /// The parameters live on the device, in the head.
    head: Engine,
    dropout: f32,
    dropout_seed: Option<u64>,
    source: Option<PathBuf>,
    output: Output,
    mix_bound: Option<f32>,
}

/// What the backbone trains on.
///
/// `free`: the head's own weights `a = ∇_l f_φ(l)`, as the paper. Nothing
/// bounds their scale or sign: the head term raises `a_k` wherever task
/// k's gradient aligns with the outer one (`c_k > 0`) and lowers it where
/// it does not, linearly and without limit, so on a small data set whose
/// outer batches the backbone has memorised, every weight can be driven
/// through zero to negative values (gradient ascent). `mix`: a mix without
/// scale, `K · softmax(a)` — positive weights that sum to `K`, as the
/// plain sum's — with the value `Σ_k w_k l_k`; the meta step
/// differentiates through the softmax (`∂/∂φ c·w = ∂/∂φ (Jᵀc)·a` with the
/// softmax's Jacobian `J` held at the current `a`), so the head learns
/// the mix alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// The head's weights as they are (the paper).
    #[default]
    Free,
    /// `K · softmax` of the head's weights.
    Mix,
}

/// The TOML form of [`Meltr`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeltrSpec {
    preset: Preset,
    tasks: usize,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    dropout: f32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weights: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "is_free")]
    output: Output,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mix_bound: Option<f32>,
}

fn is_free(o: &Output) -> bool {
    *o == Output::Free
}

impl TryFrom<MeltrSpec> for Meltr {
    type Error = Error;
    fn try_from(s: MeltrSpec) -> Result<Meltr> {
        let mut m = match &s.weights {
            Some(path) => {
                let m = Meltr::from_weights(HeadWeights::load(path)?)?;
                if m.preset != s.preset || m.num_tasks != s.tasks {
                    return Err(Error::InvalidSetting {
                        field: "weights".into(),
                        value: path.display().to_string(),
                        reason: format!(
                            "file holds a {} head with {} tasks, the run asks for {} with {}",
                            m.preset.name(),
                            m.num_tasks,
                            s.preset.name(),
                            s.tasks
                        ),
                    });
                }
                m
            }
            None => Meltr::init(s.preset, s.tasks, s.seed)?,
        };
        m.source = s.weights;
        m.output = s.output;
        m.set_dropout(s.dropout)?;
        if let Some(b) = s.mix_bound {
            if s.output != Output::Mix {
                return Err(Error::InvalidSetting {
                    field: "mix_bound".into(),
                    value: b.to_string(),
                    reason: "bounds the mix's logits: needs output = \"mix\"".into(),
                });
            }
            m.set_mix_bound(Some(b))?;
        }
        Ok(m)
    }
}

impl From<Meltr> for MeltrSpec {
    fn from(m: Meltr) -> MeltrSpec {
        MeltrSpec {
            preset: m.preset,
            tasks: m.num_tasks,
            seed: m.info.seed.unwrap_or(0),
            dropout: m.dropout,
            weights: m.source,
            output: m.output,
            mix_bound: m.mix_bound,
        }
    }
}

impl Meltr {
    /// A freshly initialised head (PyTorch's default initialisation, seeded).
    pub fn init(preset: Preset, tasks: usize, seed: u64) -> Result<Meltr> {
        Meltr::from_weights(init_weights(preset.dims(), tasks, seed)?)
    }

    /// A head from weights; their widths must be one of the presets'.
    pub fn from_weights(weights: HeadWeights) -> Result<Meltr> {
        check_num_tasks(weights.num_tasks)?;
        let preset = weights.preset().ok_or_else(|| Error::InvalidSetting {
            field: "widths".into(),
            value: format!(
                "h1={}, d={}, f={}",
                weights.dims.h1, weights.dims.d, weights.dims.f
            ),
            reason: "not a preset's widths (univl 128/256/512, violet 256/512/512, \
                     allinone 128/128/128, paper 128/512/512)"
                .into(),
        })?;
        weights.layout().check_len(weights.num_params())?;
        let flat = ParamVec::from_vec(&device(), weights.flat());
        Ok(Meltr {
            preset,
            num_tasks: weights.num_tasks,
            head: Engine::new(preset, weights.num_tasks, flat),
            info: weights.info,
            dropout: 0.0,
            dropout_seed: None,
            source: None,
            output: Output::Free,
            mix_bound: None,
        })
    }

    /// The preset.
    pub fn preset(&self) -> Preset {
        self.preset
    }

    /// The weights, in the reference layout, copied to the host.
    pub fn weights(&self) -> HeadWeights {
        let flat = self.head.params().to_vec();
        HeadWeights::from_flat(self.preset.dims(), self.num_tasks, &flat, self.info.clone())
            .expect("the head's parameter vector has its layout's length")
    }

    /// Task names and provenance stored with the weights.
    pub fn info_mut(&mut self) -> &mut HeadInfo {
        &mut self.info
    }

    /// Sets the dropout probability used when a dropout seed is set.
    pub fn set_dropout(&mut self, p: f32) -> Result<()> {
        if !(0.0..1.0).contains(&p) {
            return Err(Error::InvalidSetting {
                field: "dropout".into(),
                value: p.to_string(),
                reason: "must be in [0, 1)".into(),
            });
        }
        self.dropout = p;
        Ok(())
    }

    /// Sets what the backbone trains on.
    pub fn set_output(&mut self, output: Output) {
        self.output = output;
    }

    /// Bounds the mix's logits to `±s` (`s · tanh(a / s)`; see [`Output`]);
    /// `None`: unbounded.
    pub fn set_mix_bound(&mut self, bound: Option<f32>) -> Result<()> {
        if let Some(b) = bound {
            if !(b.is_finite() && b > 0.0) {
                return Err(Error::InvalidSetting {
                    field: "mix_bound".into(),
                    value: b.to_string(),
                    reason: "must be a positive number".into(),
                });
            }
        }
        self.mix_bound = bound;
        Ok(())
    }

    /// For `mix`: the softmax `p` of the head's own weights at `losses`
    /// (bounded by `mix_bound`), and `∂b/∂a` of the bound (ones without one).
    fn mix(&self, losses: &[f32]) -> Result<(Vec<f32>, Vec<f32>)> {
        let a = self.backward_free(losses, None)?.d_losses;
        let (b, slope): (Vec<f32>, Vec<f32>) = match self.mix_bound {
            Some(s) => a
                .iter()
                .map(|x| {
                    let t = (x / s).tanh();
                    (s * t, 1.0 - t * t)
                })
                .unzip(),
            None => (a, vec![1.0; losses.len()]),
        };
        let top = b.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f64> = b.iter().map(|x| ((x - top) as f64).exp()).collect();
        let z: f64 = e.iter().sum();
        Ok((e.iter().map(|x| (x / z) as f32).collect(), slope))
    }

    /// `Jᵀ x` for `w = K · softmax(b(a))`: `K p ⊙ (x − p·x) ⊙ b'(a)`.
    fn mix_transpose(p: &[f32], slope: &[f32], x: &[f32]) -> Vec<f32> {
        let k = p.len() as f32;
        let px: f32 = p.iter().zip(x).map(|(p, x)| p * x).sum();
        p.iter()
            .zip(x)
            .zip(slope)
            .map(|((p, x), d)| k * p * (x - px) * d)
            .collect()
    }

    fn backward_free(&self, losses: &[f32], direction: Option<&[f32]>) -> Result<HeadGrads> {
        let drop = self.dropout();
        Ok(self
            .head
            .backward(losses, direction, drop, direction.is_some()))
    }

    fn dropout(&self) -> Option<(f32, u64)> {
        match self.dropout_seed {
            Some(s) if self.dropout > 0.0 => Some((self.dropout, s)),
            _ => None,
        }
    }

    /// One backward pass: through the value, or through the tangent along `c`.
    /// Gives the output, `∇_l`, `∇_c` (the task weights, with `c`) and `∇_φ`.
    pub fn backward(&self, losses: &[f32], direction: Option<&[f32]>) -> Result<HeadGrads> {
        check_losses(losses, self.num_tasks())?;
        if let Some(c) = direction {
            check_direction(c, losses.len())?;
        }
        let drop = self.dropout();
        Ok(self.head.backward(losses, direction, drop, true))
    }

    /// The head's value alone, with no tape.
    pub fn value(&self, losses: &[f32]) -> Result<f32> {
        check_losses(losses, self.num_tasks())?;
        let drop = self.dropout();
        Ok(self.head.value(losses, drop))
    }
}

#[typetag::serde(name = "meltr")]
impl MetaLoss for Meltr {
    fn num_tasks(&self) -> Option<usize> {
        Some(self.num_tasks)
    }

    fn eval(&self, losses: &[f32]) -> Result<Evaluation> {
        check_losses(losses, self.num_tasks())?;
        if self.output == Output::Mix {
            let k = losses.len() as f32;
            let weights: Vec<f32> = self.mix(losses)?.0.iter().map(|p| k * p).collect();
            let value = weights.iter().zip(losses).map(|(w, l)| w * l).sum();
            return Ok(Evaluation { value, weights });
        }
        let drop = self.dropout();
        let g = self.head.backward(losses, None, drop, false);
        Ok(Evaluation {
            value: g.output,
            weights: g.d_losses,
        })
    }

    fn param_layout(&self) -> Vec<ParamBlock> {
        let layout = HeadLayout::new(self.preset.dims(), self.num_tasks);
        Param::ALL
            .into_iter()
            .map(|p| ParamBlock {
                name: p.name().to_string(),
                shape: layout.shape(p),
            })
            .collect()
    }

    fn params(&self) -> ParamVec {
        self.head.params().clone()
    }

    fn set_params(&mut self, params: &ParamVec) -> Result<()> {
        params.check("params", self.num_params())?;
        self.head = Engine::new(self.preset, self.num_tasks, params.clone());
        Ok(())
    }

    fn param_grad(&self, losses: &[f32], upstream: f32) -> Result<ParamVec> {
        if self.output == Output::Mix {
            // ∂/∂φ Σ_k w_k l_k with the losses held: the head term along l.
            check_losses(losses, self.num_tasks())?;
            let mut g = self.mixed_grad(losses, losses)?;
            g.scale(upstream);
            return Ok(g);
        }
        let mut g = self.backward(losses, None)?.d_params.expect("asked for");
        g.scale(upstream);
        Ok(g)
    }

    fn mixed_grad(&self, losses: &[f32], direction: &[f32]) -> Result<ParamVec> {
        if self.output == Output::Mix {
            check_losses(losses, self.num_tasks())?;
            check_direction(direction, losses.len())?;
            let (p, slope) = self.mix(losses)?;
            let along = Self::mix_transpose(&p, &slope, direction);
            let g = self.backward_free(losses, Some(&along))?;
            return Ok(g.d_params.expect("asked for"));
        }
        Ok(self
            .backward(losses, Some(direction))?
            .d_params
            .expect("asked for"))
    }

    fn set_dropout_seed(&mut self, seed: Option<u64>) {
        self.dropout_seed = seed;
    }
}
