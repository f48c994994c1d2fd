//! Backbone files: safetensors, one F32 tensor per named parameter block,
//! plus `__metadata__` with the format tag, the backbone's kind and its
//! settings, and a checksum (docs/design.md §6). Written atomically;
//! reading rebuilds the kind from the registry and checks every name,
//! shape and value against its layout, saying which tensor is wrong.

use super::{backbone_from_kind, Backbone};
use crate::atomic::write_atomic;
use crate::checksum;
use crate::error::{safetensors_reason, Error, Result};
use crate::tensor::ParamVec;
use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The `format` metadata value of a backbone file.
pub const FORMAT: &str = "meltr-backbone/2";
/// Files of the first format hold the video-text backbone (no `kind`).
const FORMAT_V1: &str = "meltr-backbone/1";

/// Serialises a backbone to safetensors bytes; `extra` goes into the metadata.
pub fn backbone_to_bytes(
    model: &dyn Backbone,
    extra: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let mut meta: HashMap<String, String> = extra.clone().into_iter().collect();
    meta.insert("format".into(), FORMAT.into());
    meta.insert("kind".into(), model.kind().into());
    meta.insert("config".into(), model.config().to_string());
    let flat = model.params().to_vec();
    let blocks = model.layout().blocks();
    let bytes: Vec<Vec<u8>> = blocks
        .iter()
        .map(|p| {
            flat[p.offset..p.offset + p.block.len()]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect()
        })
        .collect();
    let mut summed: Vec<&[u8]> = bytes.iter().map(Vec::as_slice).collect();
    summed.extend([meta["kind"].as_bytes(), meta["config"].as_bytes()]);
    meta.insert(checksum::KEY.into(), checksum::crc32_hex(&summed));
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

/// Writes a backbone file to `path` atomically.
pub fn save_backbone(model: &dyn Backbone, path: &Path) -> Result<()> {
    write_atomic(path, &backbone_to_bytes(model, &BTreeMap::new())?)
}

/// Reads a backbone file onto this thread's device.
pub fn load_backbone(path: &Path) -> Result<Box<dyn Backbone>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    backbone_from_bytes(&bytes, path).map(|(m, _)| m)
}

/// Parses backbone-file bytes, returning the model and its metadata; `path`
/// is only used in error messages.
pub fn backbone_from_bytes(
    bytes: &[u8],
    path: &Path,
) -> Result<(Box<dyn Backbone>, BTreeMap<String, String>)> {
    let bad = |reason: String| Error::BadWeightsFile {
        path: path.into(),
        reason,
    };
    let st = SafeTensors::deserialize(bytes).map_err(|e| bad(safetensors_reason(e)))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(safetensors_reason(e)))?;
    let meta: BTreeMap<String, String> = header
        .metadata()
        .as_ref()
        .map(|m| m.clone().into_iter().collect())
        .unwrap_or_default();
    let kind = match meta.get("format").map(String::as_str) {
        Some(FORMAT) => meta
            .get("kind")
            .cloned()
            .ok_or_else(|| bad("no `kind` metadata".into()))?,
        Some(FORMAT_V1) => "video_text".to_string(),
        Some(f) => {
            return Err(bad(format!(
                "format `{f}`, expected `{FORMAT}` (is this a head file or a checkpoint?)"
            )))
        }
        None => return Err(bad(format!("no `format` metadata; expected `{FORMAT}`"))),
    };
    let config: serde_json::Value = match meta.get("config") {
        Some(c) => serde_json::from_str(c).map_err(|e| bad(format!("metadata `config`: {e}")))?,
        None => serde_json::Value::Null,
    };
    let mut model =
        backbone_from_kind(&kind, &config, 0).map_err(|e| bad(format!("metadata: {e}")))?;
    let layout = model.layout().clone();
    let views: BTreeMap<String, TensorView> = st.tensors().into_iter().collect();
    let mut flat = Vec::with_capacity(layout.num_params());
    let mut summed: Vec<&[u8]> = Vec::with_capacity(layout.blocks().len() + 2);
    for p in layout.blocks() {
        let name = &p.block.name;
        let v = views.get(name).ok_or_else(|| Error::MissingTensor {
            path: path.into(),
            name: name.clone(),
            expected: p.block.shape.clone(),
        })?;
        if v.shape() != p.block.shape.as_slice() {
            if let Some(reason) = model.explain_shape(name, v.shape()) {
                return Err(bad(reason));
            }
        }
        if v.shape() != p.block.shape.as_slice() || v.dtype() != Dtype::F32 {
            return Err(Error::TensorShape {
                path: path.into(),
                name: name.clone(),
                expected: p.block.shape.clone(),
                found: v.shape().to_vec(),
                dtype: format!("{:?}", v.dtype()),
            });
        }
        summed.push(v.data());
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
    if let (Some(kind), Some(config)) = (meta.get("kind"), meta.get("config")) {
        summed.extend([kind.as_bytes(), config.as_bytes()]);
        checksum::verify(meta.get(checksum::KEY), &summed).map_err(bad)?;
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
    model.set_params(ParamVec::from_vec(&crate::tensor::device(), flat))?;
    Ok((model, meta))
}
