//! Backbone checkpoints: safetensors, one F32 tensor per named parameter
//! block, plus `__metadata__` with the format tag, the widths and the
//! [`BackboneConfig`]. Written atomically; reading checks every name, shape
//! and value and says which tensor is wrong.

use super::{BackboneConfig, Dev, ParamVec, VideoText, D_MODEL, FF_WIDTH, HEADS};
use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The `format` metadata value of a backbone checkpoint.
pub const FORMAT: &str = "meltr-backbone/1";

fn widths() -> String {
    format!("d_model={D_MODEL},heads={HEADS},ff={FF_WIDTH}")
}

impl VideoText {
    /// Serialises to safetensors bytes; `extra` goes into the metadata (e.g. provenance).
    pub fn to_bytes(&self, extra: &BTreeMap<String, String>) -> Result<Vec<u8>> {
        let mut meta: HashMap<String, String> = extra.clone().into_iter().collect();
        meta.insert("format".into(), FORMAT.into());
        meta.insert("widths".into(), widths());
        meta.insert(
            "config".into(),
            serde_json::to_string(self.config()).map_err(|e| Error::Backend(e.to_string()))?,
        );
        let flat = self.params().to_vec();
        let blocks = self.layout().blocks();
        let bytes: Vec<Vec<u8>> = blocks
            .iter()
            .map(|p| {
                flat[p.offset..p.offset + p.block.len()]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect()
            })
            .collect();
        let views = blocks
            .iter()
            .zip(&bytes)
            .map(|(p, b)| {
                let view = TensorView::new(Dtype::F32, p.block.shape.clone(), b)
                    .map_err(|e| Error::Backend(format!("{}: {e:?}", p.block.name)))?;
                Ok((p.block.name.clone(), view))
            })
            .collect::<Result<Vec<_>>>()?;
        safetensors::serialize(views, &Some(meta)).map_err(|e| Error::Backend(e.to_string()))
    }

    /// Writes a checkpoint to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.save_with(path, &BTreeMap::new())
    }

    /// Writes a checkpoint with extra metadata to `path` atomically.
    pub fn save_with(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        write_atomic(path, &self.to_bytes(extra)?)
    }

    /// Reads a checkpoint onto this thread's device ([`crate::tensor::device`]).
    pub fn load(path: &Path) -> Result<VideoText> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, path, crate::tensor::device()).map(|(m, _)| m)
    }

    /// Parses checkpoint bytes onto `dev`, returning the model and its
    /// metadata; `path` is only used in error messages.
    pub fn from_bytes(
        bytes: &[u8],
        path: &Path,
        dev: Dev,
    ) -> Result<(VideoText, BTreeMap<String, String>)> {
        let bad = |reason: String| Error::BadWeightsFile {
            path: path.into(),
            reason,
        };
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let meta: BTreeMap<String, String> = header
            .metadata()
            .as_ref()
            .map(|m| m.clone().into_iter().collect())
            .unwrap_or_default();
        match meta.get("format") {
            Some(f) if f == FORMAT => {}
            Some(f) => {
                return Err(bad(format!(
                    "format `{f}`, expected `{FORMAT}` (is this a head file?)"
                )))
            }
            None => return Err(bad(format!("no `format` metadata; expected `{FORMAT}`"))),
        }
        if let Some(w) = meta.get("widths") {
            if *w != widths() {
                return Err(bad(format!("widths {w}, this build has {}", widths())));
            }
        }
        let config: BackboneConfig = match meta.get("config") {
            Some(c) => {
                serde_json::from_str(c).map_err(|e| bad(format!("metadata `config`: {e}")))?
            }
            None => BackboneConfig::default(),
        };
        let layout = config.layout();
        let views: BTreeMap<String, TensorView> = st.tensors().into_iter().collect();
        let mut flat = Vec::with_capacity(layout.num_params());
        for p in layout.blocks() {
            let name = &p.block.name;
            let v = views.get(name).ok_or_else(|| Error::MissingTensor {
                path: path.into(),
                name: name.clone(),
                expected: p.block.shape.clone(),
            })?;
            if v.shape() != p.block.shape.as_slice() || v.dtype() != Dtype::F32 {
                return Err(Error::TensorShape {
                    path: path.into(),
                    name: name.clone(),
                    expected: p.block.shape.clone(),
                    found: v.shape().to_vec(),
                    dtype: format!("{:?}", v.dtype()),
                });
            }
            let start = flat.len();
            flat.extend(
                v.data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
            );
            if flat[start..].iter().any(|x| !x.is_finite()) {
                return Err(Error::NonFiniteTensor {
                    path: path.into(),
                    name: name.clone(),
                });
            }
        }
        if let Some((name, v)) = views.iter().find(|(n, _)| layout.get(n).is_none()) {
            return Err(Error::UnexpectedTensor {
                path: path.into(),
                name: name.clone(),
                found: v.shape().to_vec(),
                known: layout
                    .blocks()
                    .iter()
                    .map(|p| p.block.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let params = ParamVec::from_vec(&dev, flat);
        Ok((VideoText::from_parts(dev, config, params)?, meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("meltr-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join(name)
    }

    #[test]
    fn round_trip_is_bit_exact() {
        let m = VideoText::new(BackboneConfig::default(), 3);
        let p = tmp("rt.safetensors");
        m.save(&p).unwrap();
        let back = VideoText::load(&p).unwrap();
        assert_eq!(back.params().to_vec(), m.params().to_vec());
        assert_eq!(back.config(), m.config());
    }

    #[test]
    fn corrupt_and_mismatched_files_name_the_problem() {
        let p = tmp("bad.safetensors");
        std::fs::write(&p, b"not a checkpoint").unwrap();
        let e = VideoText::load(&p).unwrap_err().to_string();
        assert!(e.contains("not a valid weights file"), "{e}");

        // A checkpoint without the rotation head whose metadata claims one.
        let small = VideoText::new(
            BackboneConfig {
                rotation_head: false,
                ..Default::default()
            },
            0,
        );
        let bytes = small.to_bytes(&BTreeMap::new()).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut md = HashMap::new();
        md.insert("format".to_string(), FORMAT.to_string());
        md.insert(
            "config".to_string(),
            serde_json::to_string(&BackboneConfig::default()).unwrap(),
        );
        let b = safetensors::serialize(st.tensors(), &Some(md)).unwrap();
        let e = VideoText::from_bytes(&b, &p, Dev::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing tensor `heads.rotation.weight`") && e.contains("[4, 32]"),
            "{e}"
        );

        // A tensor with the wrong shape.
        let full = VideoText::new(BackboneConfig::default(), 0);
        let b = full.to_bytes(&BTreeMap::new()).unwrap();
        let st = SafeTensors::deserialize(&b).unwrap();
        let mut views: Vec<(String, TensorView)> = st.tensors();
        let bias = vec![0u8; 4 * 5];
        for (n, v) in views.iter_mut() {
            if n == "heads.rotation.bias" {
                *v = TensorView::new(Dtype::F32, vec![5], &bias).unwrap();
            }
        }
        let mut md = HashMap::new();
        md.insert("format".to_string(), FORMAT.to_string());
        let b = safetensors::serialize(views, &Some(md)).unwrap();
        let e = VideoText::from_bytes(&b, &p, Dev::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("heads.rotation.bias") && e.contains("[5]") && e.contains("[4]"),
            "{e}"
        );
    }
}
