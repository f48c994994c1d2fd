//! The video-text domain: the synthetic world ([`world`]) and the
//! reference backbone, a small analogue of UniVL ([`VideoText`]), with
//! every parameter in one flat vector.
//!
//! Registered as the data set `video_text` (text-to-video retrieval;
//! pretraining combines the five pretext tasks) and the backbone kind
//! `video_text`.
//!
//! ```
//! use meltr::backbone::{parts::TextEmbedding, Backbone};
//! use meltr::domains::video_text::{BackboneConfig, VideoText};
//! use meltr::domains::video_text::world::World;
//! use meltr::dfdx::prelude::*;
//! let model = VideoText::new(BackboneConfig::default(), 0);
//! let batch = World::new(0).pretrain_batch(0, 4);
//! let net = model.net_taped(model.params());
//! let e = net.part::<TextEmbedding>(batch.text().unwrap()).unwrap(); // (4, 32), unit rows
//! let g = net.gradient(e.sum::<Rank0, _>());
//! assert_eq!(g.len(), model.layout().num_params());
//! ```

mod model;
mod net;
pub mod world;

pub use model::{BackboneConfig, VideoText, DEFAULT_WIDTH, KIND, MAX_WIDTH};
pub use net::{cross_text_row, cross_video_row, VtNet, CROSS_LEN};

use crate::backbone::{Backbone, BackboneRegistration, Batch};
use crate::dataset::{no_settings, Dataset, DatasetRegistration, Scoring, Split};
use crate::error::{Error, Result};
use std::sync::{Arc, OnceLock};
use world::{batch_of, Example, World};

/// Attention heads per layer (each `width / HEADS` wide).
pub const HEADS: usize = 2;
/// Rotation classes (0°, 90°, 180°, 270°).
pub const ROTATIONS: usize = 4;

/// The five pretext tasks, in the order pretraining combines them.
pub const PRETEXT_TASKS: [&str; 5] = ["cmlm", "cmfm", "align", "mixup", "rotation"];

/// The world as a [`Dataset`]: its finite splits are rendered once, on
/// first use; the pretraining stream is rendered batch by batch.
#[derive(Debug)]
pub struct VideoTextData {
    world: World,
    splits: [OnceLock<Vec<Example>>; 3],
}

impl VideoTextData {
    /// The world of `seed`.
    pub fn new(seed: u64) -> VideoTextData {
        VideoTextData {
            world: World::new(seed),
            splits: Default::default(),
        }
    }

    fn examples(&self, split: Split) -> &[Example] {
        let slot = match split {
            Split::Train => 0,
            Split::Val => 1,
            Split::Test => 2,
            Split::Pretrain => return &[],
        };
        self.splits[slot].get_or_init(|| self.world.split(split))
    }
}

impl Dataset for VideoTextData {
    fn name(&self) -> &str {
        "video_text"
    }

    fn len(&self, split: Split) -> usize {
        self.examples(split).len()
    }

    fn batch(&self, split: Split, indices: &[usize]) -> Batch {
        let all = self.examples(split);
        batch_of(indices.iter().map(|&i| &all[i]))
    }

    fn pretrain_batch(&self, step: u64, size: usize) -> Batch {
        self.world.pretrain_batch(step, size)
    }

    fn scoring(&self) -> Scoring {
        Scoring::Retrieval
    }

    fn backbone_kind(&self) -> &str {
        KIND
    }

    fn pretrain_tasks(&self) -> Vec<String> {
        PRETEXT_TASKS.iter().map(|s| s.to_string()).collect()
    }
}

fn build_backbone(config: &serde_json::Value, seed: u64) -> Result<Box<dyn Backbone>> {
    let config: BackboneConfig = if config.is_null() {
        BackboneConfig::default()
    } else {
        serde_json::from_value(config.clone()).map_err(|e| Error::InvalidSetting {
            field: "backbone".into(),
            value: config.to_string(),
            reason: format!("video_text settings: {e}"),
        })?
    };
    config.validate()?;
    Ok(Box::new(VideoText::new(config, seed)))
}

inventory::submit!(BackboneRegistration {
    kind: KIND,
    summary: "small UniVL-like video-text transformer (text, video and cross-modal encoders)",
    build: build_backbone,
});

inventory::submit!(DatasetRegistration {
    name: "video_text",
    summary: "synthetic video-text world: captioned clips, text-to-video retrieval",
    build: |seed, settings| {
        no_settings("video_text", settings)?;
        Ok(Arc::new(VideoTextData::new(seed)))
    },
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backbone::{
        backbone_from_bytes, backbone_from_kind, backbone_to_bytes, load_backbone, save_backbone,
    };
    use safetensors::tensor::{Dtype, TensorView};
    use safetensors::SafeTensors;
    use std::collections::{BTreeMap, HashMap};

    fn tmp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("meltr-vt-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join(name)
    }

    #[test]
    fn a_backbone_file_round_trip_is_bit_exact() {
        let m = VideoText::new(BackboneConfig::default(), 3);
        let p = tmp("rt.safetensors");
        save_backbone(&m, &p).unwrap();
        let back = load_backbone(&p).unwrap();
        assert_eq!(back.kind(), KIND);
        assert_eq!(back.params().to_vec(), m.params().to_vec());
        assert_eq!(back.config(), m.config());
    }

    #[test]
    fn corrupt_and_mismatched_files_name_the_problem() {
        let p = tmp("bad.safetensors");
        std::fs::write(&p, b"not a checkpoint").unwrap();
        let e = load_backbone(&p).unwrap_err().to_string();
        assert!(e.contains("not a valid weights file"), "{e}");

        // A file without the rotation head whose metadata claims one.
        let small = VideoText::new(
            BackboneConfig {
                rotation_head: false,
                ..Default::default()
            },
            0,
        );
        let bytes = backbone_to_bytes(&small, &BTreeMap::new()).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let mut md = HashMap::new();
        md.insert("format".to_string(), crate::backbone::FORMAT.to_string());
        md.insert("kind".to_string(), KIND.to_string());
        md.insert(
            "config".to_string(),
            serde_json::to_string(&BackboneConfig::default()).unwrap(),
        );
        let b = safetensors::serialize(st.tensors(), &Some(md)).unwrap();
        let e = backbone_from_bytes(&b, &p).unwrap_err().to_string();
        assert!(
            e.contains("missing tensor `heads.rotation.weight`") && e.contains("[4, 32]"),
            "{e}"
        );

        // A tensor with the wrong shape.
        let full = VideoText::new(BackboneConfig::default(), 0);
        let b = backbone_to_bytes(&full, &BTreeMap::new()).unwrap();
        let st = SafeTensors::deserialize(&b).unwrap();
        let mut views: Vec<(String, TensorView)> = st.tensors();
        let bias = vec![0u8; 4 * 5];
        for (n, v) in views.iter_mut() {
            if n == "heads.rotation.bias" {
                *v = TensorView::new(Dtype::F32, vec![5], &bias).unwrap();
            }
        }
        let mut md = HashMap::new();
        md.insert("format".to_string(), crate::backbone::FORMAT.to_string());
        md.insert("kind".to_string(), KIND.to_string());
        let b = safetensors::serialize(views, &Some(md)).unwrap();
        let e = backbone_from_bytes(&b, &p).unwrap_err().to_string();
        assert!(
            e.contains("heads.rotation.bias") && e.contains("[5]") && e.contains("[4]"),
            "{e}"
        );
    }

    /// Four losses of a fresh backbone on one pretraining batch, and the
    /// gradient of their sum (its norm and three entries), as f32 bits.
    fn losses_and_gradient(config: BackboneConfig) -> Vec<u32> {
        use crate::aux_task::symmetric_info_nce;
        use crate::backbone::parts::{
            MaskedFramePrediction, MaskedTokenLogits, RotationLogits, TextEmbedding,
            VisualEmbedding,
        };
        use crate::backbone::Loss;
        use crate::tensor::{cross_entropy_with_logits, Targets};
        use dfdx::prelude::*;
        let model = VideoText::new(config, 0);
        let batch = World::new(0).pretrain_batch(0, 4);
        let (text, visual) = (batch.text().unwrap(), batch.visual().unwrap());
        let net = model.net_taped(model.params());
        let t = net.part::<TextEmbedding>(text).unwrap();
        let v = net.part::<VisualEmbedding>(visual).unwrap();
        let align = symmetric_info_nce(&batch, t, v, 0.1).unwrap();
        let positions = vec![0, 5, 21, 47, 66];
        let ids: Vec<usize> = positions.iter().map(|&p| text.tokens[p]).collect();
        let logits = net
            .part::<MaskedTokenLogits>((text, visual, &positions))
            .unwrap();
        let mlm = cross_entropy_with_logits(logits, Targets::Classes(&ids));
        let masked: Vec<bool> = (0..4 * world::FRAMES).map(|i| i % 3 == 1).collect();
        let (pred, target) = net
            .part::<MaskedFramePrediction>((text, visual, &masked))
            .unwrap();
        let frame = (pred - target).square().mean();
        let rotation = net.part::<RotationLogits>(visual).unwrap();
        let rotation = cross_entropy_with_logits(rotation, Targets::Classes(&[0, 1, 2, 3]));
        let losses: [&Loss<_>; 4] = [&align, &mlm, &frame, &rotation];
        let mut bits: Vec<u32> = losses.iter().map(|l| l.array().to_bits()).collect();
        let g = net.gradient(align + mlm + frame + rotation);
        let gv = g.to_vec();
        bits.push(g.norm().to_bits());
        bits.extend([0, gv.len() / 2, gv.len() - 1].map(|i| gv[i].to_bits()));
        bits
    }

    #[test]
    fn width_32_gives_the_numbers_of_the_compile_time_width() {
        // Computed at b2ea695, when the width was the constant D_MODEL = 32.
        let pinned: [u32; 8] = [
            1069520792, 1083125045, 1051592392, 1068136625, 1098880416, 1043006711, 3159942428,
            3154716960,
        ];
        let got = losses_and_gradient(BackboneConfig::default());
        let floats = |b: &[u32]| b.iter().map(|&x| f32::from_bits(x)).collect::<Vec<_>>();
        println!("{got:?} = {:?}", floats(&got));
        assert_eq!(got, pinned, "{:?} vs {:?}", floats(&got), floats(&pinned));
    }

    #[test]
    fn other_widths_build_train_and_round_trip() {
        for width in [16, 48] {
            let config = BackboneConfig {
                width,
                ..Default::default()
            };
            let bits = losses_and_gradient(config);
            assert!(
                bits.iter().all(|&b| f32::from_bits(b).is_finite()),
                "width {width}: {bits:?}"
            );
            assert_ne!(bits, losses_and_gradient(BackboneConfig::default()));
            let m = backbone_from_kind(KIND, &serde_json::json!({ "width": width }), 3).unwrap();
            let e = m.layout().get("text.layer.ff1.weight").unwrap();
            assert_eq!(e.block.shape, vec![2 * width, width]);
            let p = tmp(&format!("w{width}.safetensors"));
            save_backbone(m.as_ref(), &p).unwrap();
            let back = load_backbone(&p).unwrap();
            assert_eq!(back.config(), m.config());
            assert_eq!(back.config()["width"], width);
            assert_eq!(back.params().to_vec(), m.params().to_vec());
        }
    }

    #[test]
    fn a_bad_width_is_refused_by_name() {
        for (width, why) in [(0, "heads"), (33, "heads"), (1024, "..=512")] {
            let e = backbone_from_kind(KIND, &serde_json::json!({ "width": width }), 0)
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("backbone.width = {width}: ")) && e.contains(why),
                "{e}"
            );
            assert_eq!(e.lines().count(), 1, "{e}");
        }
    }

    /// A backbone file of `model`'s tensors whose metadata records
    /// `config` (checksum recomputed, as a file written with it).
    fn file_claiming(model: &VideoText, config: &str) -> Vec<u8> {
        let bytes = backbone_to_bytes(model, &BTreeMap::new()).unwrap();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let views: Vec<(String, TensorView)> = model
            .layout()
            .blocks()
            .iter()
            .map(|p| (p.block.name.clone(), st.tensor(&p.block.name).unwrap()))
            .collect();
        let mut summed: Vec<&[u8]> = views.iter().map(|(_, v)| v.data()).collect();
        summed.extend([KIND.as_bytes(), config.as_bytes()]);
        let mut md = HashMap::new();
        md.insert("format".to_string(), crate::backbone::FORMAT.to_string());
        md.insert("kind".to_string(), KIND.to_string());
        md.insert("config".to_string(), config.to_string());
        md.insert(
            crate::checksum::KEY.to_string(),
            crate::checksum::crc32_hex(&summed),
        );
        safetensors::serialize(views, &Some(md)).unwrap()
    }

    #[test]
    fn files_without_a_width_load_at_32_and_a_wrong_width_is_named() {
        let p = tmp("claims.safetensors");
        // Written before the width was a setting: no `width` in its settings.
        let m = VideoText::new(BackboneConfig::default(), 4);
        let old = r#"{"frame_head":true,"mlm_head":true,"rotation_head":true}"#;
        let (back, _) = backbone_from_bytes(&file_claiming(&m, old), &p).unwrap();
        assert_eq!(back.config()["width"], 32);
        assert_eq!(back.params().to_vec(), m.params().to_vec());

        // Tensors 16 wide under settings that say 32 (or say nothing).
        let narrow = VideoText::new(
            BackboneConfig {
                width: 16,
                ..Default::default()
            },
            4,
        );
        for claim in [old, r#"{"width":32}"#] {
            let e = backbone_from_bytes(&file_claiming(&narrow, claim), &p)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("backbone.width = 32") && e.contains("16 wide") && e.contains("claims"),
                "{e}"
            );
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        let e = backbone_from_bytes(&file_claiming(&narrow, r#"{"width":15}"#), &p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("backbone.width = 15"), "{e}");
    }

    #[test]
    fn batches_of_the_data_set_are_the_worlds_examples() {
        let data = VideoTextData::new(1);
        let b = data.batch(Split::Val, &[3, 5]);
        let w = World::new(1);
        let e = [w.example(Split::Val, 3), w.example(Split::Val, 5)];
        assert_eq!(b, batch_of(&e));
        assert_eq!(data.len(Split::Test), world::TEST_SIZE);
        b.validate().unwrap();
    }
}
