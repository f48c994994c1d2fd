//! A fine-tuning checkpoint: backbone, head, both optimisers and the
//! position in the run, in one safetensors file written atomically at the
//! end of each epoch. The run's randomness is a pure function of the seed
//! and the step counter, so this is all `--resume` needs to end with the
//! same weights as an uninterrupted run. A CRC-32 of the six tensors'
//! bytes is stored in the metadata, so a flipped bit in the data is
//! refused rather than trained on.

use crate::atomic::write_atomic;
use crate::checksum;
use crate::error::{safetensors_reason, Error, Result};
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// The `format` tag of a training checkpoint.
pub const FORMAT: &str = "meltr-train/3";
/// The previous format: the same, without the checksum (still read).
const FORMAT_V2: &str = "meltr-train/2";

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPosition {
    /// Epochs completed.
    pub epochs_done: usize,
    /// Backbone steps taken.
    pub step: u64,
    /// Backbone Adam steps.
    pub backbone_t: u64,
    /// Head Adam steps.
    pub head_t: u64,
    /// Backbone steps skipped for non-finite values.
    pub skipped_steps: u64,
    /// Meta steps skipped for non-finite values.
    pub skipped_meta: u64,
    /// The backbone's kind ([`crate::backbone::Backbone::kind`]).
    pub backbone_kind: String,
    /// The backbone's settings ([`crate::backbone::Backbone::config`]).
    pub backbone_config: serde_json::Value,
    /// Bytes of `log.jsonl` when the checkpoint was written: a resumed run
    /// cuts the log back to this length, dropping the lines of the
    /// interrupted epoch it is about to repeat.
    #[serde(default)]
    pub log_bytes: Option<u64>,
}

/// Everything saved at the end of an epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The run file (TOML) the run was started with.
    pub config: String,
    /// Where the run stands.
    pub position: RunPosition,
    /// Backbone parameters, Adam first and second moments.
    pub backbone: [Vec<f32>; 3],
    /// Head parameters, Adam first and second moments.
    pub head: [Vec<f32>; 3],
}

const NAMES: [&str; 6] = [
    "backbone.params",
    "backbone.adam.m",
    "backbone.adam.v",
    "head.params",
    "head.adam.m",
    "head.adam.v",
];

impl Checkpoint {
    /// Writes the checkpoint to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes: Vec<Vec<u8>> = self
            .backbone
            .iter()
            .chain(&self.head)
            .map(|t| t.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let views: Vec<(String, TensorView)> = NAMES
            .iter()
            .zip(&bytes)
            .map(|(n, b)| {
                let view = TensorView::new(Dtype::F32, vec![b.len() / 4], b).expect("1-D view");
                (n.to_string(), view)
            })
            .collect();
        let position = serde_json::to_string(&self.position).expect("position serialises");
        let mut summed: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
        summed.extend([self.config.as_bytes(), position.as_bytes()]);
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT.to_string());
        meta.insert(checksum::KEY.to_string(), checksum::crc32_hex(&summed));
        meta.insert("config".to_string(), self.config.clone());
        meta.insert("position".to_string(), position);
        let bytes = safetensors::serialize(views, &Some(meta))
            .map_err(|e| Error::Backend(e.to_string()))?;
        write_atomic(path, &bytes)
    }

    /// Reads a checkpoint, checking its format, checksum and every tensor.
    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses checkpoint bytes; `path` is only used in error messages.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
        let bad = |reason: String| Error::BadWeightsFile {
            path: path.into(),
            reason,
        };
        let st = SafeTensors::deserialize(bytes).map_err(|e| bad(safetensors_reason(e)))?;
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| bad(safetensors_reason(e)))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let stored_checksum = match meta.get("format").map(String::as_str) {
            Some(FORMAT) => Some(
                meta.get(checksum::KEY)
                    .ok_or_else(|| bad("metadata `checksum` missing".into()))?,
            ),
            Some(FORMAT_V2) => None,
            Some(f) => {
                return Err(bad(format!(
                    "format `{f}`, expected `{FORMAT}` (is this a backbone or head file?)"
                )))
            }
            None => return Err(bad(format!("no `format` metadata; expected `{FORMAT}`"))),
        };
        let config = meta
            .get("config")
            .cloned()
            .ok_or_else(|| bad("metadata `config` missing".into()))?;
        let position: RunPosition =
            serde_json::from_str(meta.get("position").map(String::as_str).unwrap_or(""))
                .map_err(|e| bad(format!("metadata `position`: {e}")))?;
        let mut tensors = Vec::with_capacity(NAMES.len());
        let mut raw = Vec::with_capacity(NAMES.len());
        for name in NAMES {
            let v = st.tensor(name).map_err(|_| Error::MissingTensor {
                path: path.into(),
                name: name.into(),
                expected: vec![],
            })?;
            if v.dtype() != Dtype::F32 || v.shape().len() != 1 {
                return Err(bad(format!(
                    "tensor `{name}` must be 1-D F32, found {:?} {:?}",
                    v.shape(),
                    v.dtype()
                )));
            }
            raw.push(v.data());
            let data: Vec<f32> = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            tensors.push(data);
        }
        raw.extend([config.as_bytes(), meta["position"].as_bytes()]);
        checksum::verify(stored_checksum, &raw).map_err(bad)?;
        for (name, data) in NAMES.iter().zip(&tensors) {
            if data.iter().any(|x| !x.is_finite()) {
                return Err(bad(format!("tensor `{name}` holds a non-finite value")));
            }
        }
        let mut it = tensors.into_iter();
        let mut next = || it.next().expect("six tensors");
        let backbone = [next(), next(), next()];
        let head = [next(), next(), next()];
        if backbone[1].len() != backbone[0].len() || backbone[2].len() != backbone[0].len() {
            return Err(bad(
                "backbone optimiser state does not match the parameters".into(),
            ));
        }
        if head[1].len() != head[0].len() || head[2].len() != head[0].len() {
            return Err(bad(
                "head optimiser state does not match the parameters".into()
            ));
        }
        Ok(Checkpoint {
            config,
            position,
            backbone,
            head,
        })
    }
}
