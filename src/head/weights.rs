//! The head's weights as plain host data, and their safetensors file format.
//!
//! Names and shapes are those of [`HeadLayout`] (the PyTorch reference's
//! `state_dict`, docs/design.md §1). A file saved by the reference code
//! loads unchanged: the widths and K are read off the tensor shapes. Files
//! written here add `__metadata__` (task names, primary task, provenance),
//! which the reference ignores.

use super::layout::{HeadLayout, Param, NUM_PARAMS, PARAM_NAMES};
use super::preset::{Dims, Preset};
use crate::atomic::write_atomic;
use crate::checksum;
use crate::error::{safetensors_reason, Error, Result};
use crate::meta_loss::check_num_tasks;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The `format` metadata value of a head file meltr writes.
pub const FORMAT: &str = "meltr-head/1";

/// What a head file says about where the head came from; all optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeadInfo {
    /// Task names in input order (empty: unnamed, shown as `task0`, `task1`, ...).
    pub task_names: Vec<String>,
    /// Index of the primary (target) task, if known.
    pub primary: Option<usize>,
    /// Meta steps the head was trained for (0 for a fresh head).
    pub steps: u64,
    /// Seed of the initialisation or of the training run.
    pub seed: Option<u64>,
}

impl HeadInfo {
    /// Task names, falling back to `task{k}` where none were recorded.
    pub fn names_or_default(&self, k: usize) -> Vec<String> {
        if self.task_names.len() == k {
            self.task_names.clone()
        } else {
            (0..k).map(|i| format!("task{i}")).collect()
        }
    }
}

/// A MELTR head's parameters in the reference layout, on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadWeights {
    /// The widths.
    pub dims: Dims,
    /// Number of input losses K.
    pub num_tasks: usize,
    /// One flat row-major buffer per tensor, in [`Param::ALL`] order.
    pub tensors: Vec<Vec<f32>>,
    /// Provenance and task names.
    pub info: HeadInfo,
}

impl HeadWeights {
    /// The preset these widths belong to, if any.
    pub fn preset(&self) -> Option<Preset> {
        Preset::from_dims(self.dims)
    }

    /// Where this head's tensors live in its flat vector.
    pub fn layout(&self) -> HeadLayout {
        HeadLayout::new(self.dims, self.num_tasks)
    }

    /// The reference shapes of this head's tensors.
    pub fn shapes(&self) -> [Vec<usize>; NUM_PARAMS] {
        self.layout().shapes()
    }

    /// The values of tensor `p`.
    pub fn tensor(&self, p: Param) -> &[f32] {
        &self.tensors[p.index()]
    }

    /// `(name, shape, values)` for every tensor, in [`Param::ALL`] order.
    pub fn named(&self) -> impl Iterator<Item = (&'static str, Vec<usize>, &[f32])> {
        PARAM_NAMES
            .into_iter()
            .zip(self.shapes())
            .zip(self.tensors.iter())
            .map(|((n, s), t)| (n, s, t.as_slice()))
    }

    /// All parameters concatenated in [`Param::ALL`] order.
    pub fn flat(&self) -> Vec<f32> {
        self.tensors.concat()
    }

    /// Weights of the given widths and task count from their flat form
    /// ([`HeadWeights::flat`]); errors if the length does not match.
    pub fn from_flat(
        dims: Dims,
        num_tasks: usize,
        flat: &[f32],
        info: HeadInfo,
    ) -> Result<HeadWeights> {
        let layout = HeadLayout::new(dims, num_tasks);
        layout.check_len(flat.len())?;
        let tensors = Param::ALL
            .into_iter()
            .map(|p| flat[layout.range(p)].to_vec())
            .collect();
        Ok(HeadWeights {
            dims,
            num_tasks,
            tensors,
            info,
        })
    }

    /// Number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.tensors.iter().map(Vec::len).sum()
    }

    /// Serialises to safetensors bytes (F32, reference names, metadata).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT.to_string());
        if let Some(p) = self.preset() {
            meta.insert("preset".into(), p.name().into());
        }
        let info = serde_json::to_string(&self.info).expect("HeadInfo serialises");
        let bytes: Vec<Vec<u8>> = self
            .tensors
            .iter()
            .map(|t| t.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let mut summed: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        summed.push(info.as_bytes());
        meta.insert(checksum::KEY.into(), checksum::crc32_hex(&summed));
        meta.insert("info".into(), info);
        let views: Vec<(String, TensorView)> = self
            .shapes()
            .into_iter()
            .zip(&bytes)
            .zip(PARAM_NAMES)
            .map(|((shape, b), name)| {
                let view = TensorView::new(Dtype::F32, shape, b).expect("shape matches data");
                (name.to_string(), view)
            })
            .collect();
        safetensors::serialize(views, &Some(meta)).map_err(|e| Error::Backend(e.to_string()))
    }

    /// Writes the head to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }

    /// Reads a head from a safetensors file, checking every name and shape.
    pub fn load(path: &Path) -> Result<HeadWeights> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses safetensors bytes; `path` is only used in error messages.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<HeadWeights> {
        let bad = |reason: String| Error::BadWeightsFile {
            path: path.into(),
            reason,
        };
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(safetensors_reason(e)))?;
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| bad(safetensors_reason(e)))?;
        let meta = header.metadata().clone().unwrap_or_default();
        // Heads saved by other frameworks carry their own tag (`pt` from
        // the reference code's `save_file`) or none; meltr's other files
        // are named for what they are.
        if let Some(f) = meta
            .get("format")
            .filter(|f| f.starts_with("meltr-") && *f != FORMAT)
        {
            return Err(bad(format!(
                "format `{f}`, expected `{FORMAT}` (is this a backbone file or a checkpoint?)"
            )));
        }
        let views: BTreeMap<String, TensorView> = st.tensors().into_iter().collect();
        let shape_of = |name: &str, rank: usize| -> Result<Vec<usize>> {
            let v = views.get(name).ok_or_else(|| Error::MissingTensor {
                path: path.into(),
                name: name.into(),
                expected: vec![],
            })?;
            if v.shape().len() != rank {
                return Err(bad(format!(
                    "tensor `{name}` has rank {}, expected {rank}",
                    v.shape().len()
                )));
            }
            Ok(v.shape().to_vec())
        };
        // Widths and K come from the shapes, as in a reference state_dict.
        let emb = shape_of(Param::TaskEmbedding.name(), 2)?;
        let fc1 = shape_of(Param::LossFc1Weight.name(), 2)?;
        let lin1 = shape_of(Param::Linear1Weight.name(), 2)?;
        let dims = Dims {
            h1: fc1[0],
            d: emb[1],
            f: lin1[0],
            heads: super::preset::HEADS,
        };
        let num_tasks = emb[0];
        check_num_tasks(num_tasks).map_err(|e| bad(format!("task_embedding.weight: {e}")))?;
        if dims.d == 0 || dims.d % dims.heads != 0 || dims.h1 == 0 || dims.f == 0 {
            return Err(bad(format!(
                "widths h1={}, d={}, f={} are not a valid head (d must be a positive multiple of {})",
                dims.h1, dims.d, dims.f, dims.heads
            )));
        }
        let shapes = HeadLayout::new(dims, num_tasks).shapes();
        let mut tensors = Vec::with_capacity(PARAM_NAMES.len());
        let mut summed: Vec<&[u8]> = Vec::with_capacity(PARAM_NAMES.len() + 1);
        for (name, expected) in PARAM_NAMES.into_iter().zip(shapes) {
            let v = views.get(name).ok_or_else(|| Error::MissingTensor {
                path: path.into(),
                name: name.into(),
                expected: expected.clone(),
            })?;
            if v.shape() != expected.as_slice() || v.dtype() != Dtype::F32 {
                return Err(Error::TensorShape {
                    path: path.into(),
                    name: name.into(),
                    expected,
                    found: v.shape().to_vec(),
                    dtype: format!("{:?}", v.dtype()),
                });
            }
            summed.push(v.data());
            let data: Vec<f32> = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            tensors.push(data);
        }
        if let Some(info) = meta.get("info") {
            summed.push(info.as_bytes());
            checksum::verify(meta.get(checksum::KEY), &summed).map_err(bad)?;
        }
        if let Some((name, v)) = views
            .iter()
            .find(|(n, _)| !PARAM_NAMES.contains(&n.as_str()))
        {
            return Err(Error::UnexpectedTensor {
                path: path.into(),
                name: name.clone(),
                found: v.shape().to_vec(),
                known: PARAM_NAMES.join(", "),
            });
        }
        let info = match meta.get("info") {
            Some(s) => serde_json::from_str(s).map_err(|e| bad(format!("metadata `info`: {e}")))?,
            None => HeadInfo::default(),
        };
        let w = HeadWeights {
            dims,
            num_tasks,
            tensors,
            info,
        };
        if !w.info.task_names.is_empty() && w.info.task_names.len() != num_tasks {
            return Err(bad(format!(
                "metadata names {} tasks, the tensors have {num_tasks}",
                w.info.task_names.len()
            )));
        }
        if let Some(i) = w.flat().iter().position(|v| !v.is_finite()) {
            return Err(bad(format!("parameter #{i} is not finite")));
        }
        Ok(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::layout::marked;

    /// The file names each tensor after the layout and holds, under that
    /// name and with that shape, the tensor the layout places in the flat
    /// vector; reading it back gives the same flat vector.
    #[test]
    fn the_file_holds_each_tensor_under_its_layout_name_and_shape() {
        for l in marked::heads() {
            for (position, flat) in marked::fills(&l) {
                let w = HeadWeights::from_flat(l.dims(), l.num_tasks(), &flat, HeadInfo::default())
                    .unwrap();
                let bytes = w.to_bytes().unwrap();
                let st = SafeTensors::deserialize(&bytes).unwrap();
                assert_eq!(st.len(), NUM_PARAMS);
                for p in Param::ALL {
                    let v = st.tensor(p.name()).unwrap();
                    assert_eq!(v.shape(), l.shape(p).as_slice(), "{p:?}");
                    let values: Vec<f32> = v
                        .data()
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    marked::check("safetensors", p, 0, &values, position);
                }
                let back = HeadWeights::from_bytes(&bytes, Path::new("marked")).unwrap();
                assert_eq!(back.flat(), flat);
            }
        }
    }
}
