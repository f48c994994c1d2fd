//! The digits domain: the UCI optical handwritten digits (1,797 grey 8x8
//! images of the digits 0-9, built into the crate; see [`data`] and
//! `src/domains/digits/README.md`) and a small ResNet-style image
//! backbone ([`ImageResNet`]), with every parameter in one flat vector.
//!
//! Registered as the data set `digits` (classification of the test split;
//! pretraining on the unlabelled pool combines `rotation` and
//! `masked_pixels`) and the backbone kind `image_resnet`.
//!
//! The split is fixed by row order: the last 1,000 rows are the test split;
//! of the 797 rows before them, the first 10 of each class are the train
//! split (100), the next 15 of each class the validation split (150), and
//! the other 547 the unlabelled pretraining pool. A run file's
//! `[data_settings]` ([`SplitSizes`]) changes these sizes.
//!
//! ```
//! use meltr::backbone::{parts::ClassLogits, Backbone};
//! use meltr::dataset::{Dataset, Split};
//! use meltr::domains::digits::{DigitsData, ImageResNet, ResNetConfig};
//! use meltr::dfdx::prelude::*;
//! let data = DigitsData::new().unwrap();
//! assert_eq!((data.len(Split::Train), data.len(Split::Test)), (100, 1000));
//! let batch = data.batch(Split::Train, &[0, 1, 2, 3]);
//! let model = ImageResNet::new(ResNetConfig::default(), 0).unwrap();
//! let net = model.net_taped(model.params());
//! let logits = net.part::<ClassLogits>(batch.visual().unwrap()).unwrap(); // (4, 10)
//! assert_eq!(*logits.shape(), (4, 10));
//! let g = net.gradient(logits.square().sum());
//! assert_eq!(g.len(), model.layout().num_params());
//! ```

pub mod data;
mod model;
mod net;

pub use data::{Digits, SplitRows, SplitSizes};
pub use model::{
    im2col_rows, ImageResNet, ResNetConfig, KIND, MASK_VALUE_INIT, MAX_BLOCKS, MAX_WIDTH,
};
pub use net::{images, ResNetNet, INPUT_SHIFT};

use crate::backbone::{Backbone, BackboneRegistration, Batch, Labels, Visual};
use crate::dataset::{mix64, Dataset, DatasetRegistration, Scoring, Split};
use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::sync::Arc;

/// Rows and columns of an image.
pub const SIDE: usize = 8;
/// Pixels of an image.
pub const PIXELS: usize = SIDE * SIDE;
/// Number of classes (the digits 0-9).
pub const CLASSES: usize = 10;
/// Rotation classes (0°, 90°, 180°, 270°).
pub const ROTATIONS: usize = 4;

/// The tasks pretraining combines by default, in order.
pub const PRETEXT_TASKS: [&str; 2] = ["rotation", "masked_pixels"];

/// The built-in digits as a [`Dataset`]; see the module docs.
///
/// The pretraining stream walks the unlabelled pool in a fresh shuffled
/// order every pass (the order of pass `e` is drawn from `e` alone), so
/// batch `step` is a pure function of `(step, size)`; its batches carry no
/// labels.
#[derive(Debug, Clone)]
pub struct DigitsData {
    digits: Digits,
    rows: SplitRows,
}

impl DigitsData {
    /// The built-in file, split with the default sizes.
    pub fn new() -> Result<DigitsData> {
        DigitsData::from_digits(Digits::builtin()?, &SplitSizes::default())
    }

    /// Any digits file, split by the same rule ([`SplitRows::of`]) at
    /// these sizes (an error when the file cannot give them).
    pub fn from_digits(digits: Digits, sizes: &SplitSizes) -> Result<DigitsData> {
        let rows = SplitRows::of(digits.labels(), sizes)?;
        Ok(DigitsData { digits, rows })
    }

    /// The images and labels, in file order.
    pub fn digits(&self) -> &Digits {
        &self.digits
    }

    /// The file rows of every split.
    pub fn rows(&self) -> &SplitRows {
        &self.rows
    }

    /// A batch of the file rows `rows`, with or without their labels.
    fn batch_of(&self, rows: &[usize], labelled: bool) -> Batch {
        let mut pixels = Vec::with_capacity(rows.len() * PIXELS);
        for &r in rows {
            pixels.extend_from_slice(self.digits.image(r));
        }
        Batch {
            size: rows.len(),
            visual: Some(Visual {
                pixels,
                frames: 1,
                channels: 1,
                height: SIDE,
                width: SIDE,
            }),
            text: None,
            labels: labelled.then(|| Labels {
                ids: rows.iter().map(|&r| self.digits.label(r)).collect(),
                classes: CLASSES,
            }),
            ..Default::default()
        }
    }

    /// The pool's order in pass `epoch` of the pretraining stream.
    fn pass_order(&self, epoch: u64) -> Vec<usize> {
        let mut order = self.rows.pool.clone();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(mix64(epoch ^ 0xD161_7500));
        order.shuffle(&mut rng);
        order
    }
}

impl Dataset for DigitsData {
    fn name(&self) -> &str {
        "digits"
    }

    fn len(&self, split: Split) -> usize {
        match split {
            Split::Pretrain => 0,
            s => self.rows.rows(s).len(),
        }
    }

    fn batch(&self, split: Split, indices: &[usize]) -> Batch {
        let all = self.rows.rows(split);
        let rows: Vec<usize> = indices.iter().map(|&i| all[i]).collect();
        self.batch_of(&rows, split != Split::Pretrain)
    }

    fn pretrain_batch(&self, step: u64, size: usize) -> Batch {
        let n = self.rows.pool.len() as u128;
        let mut rows = Vec::with_capacity(size);
        let mut cached: Option<(u64, Vec<usize>)> = None;
        for j in 0..size as u128 {
            let k = step as u128 * size as u128 + j;
            let epoch = (k / n) as u64;
            if cached.as_ref().map(|c| c.0) != Some(epoch) {
                cached = Some((epoch, self.pass_order(epoch)));
            }
            let order = &cached.as_ref().expect("just set").1;
            rows.push(order[(k % n) as usize]);
        }
        self.batch_of(&rows, false)
    }

    fn scoring(&self) -> Scoring {
        Scoring::Classification
    }

    fn backbone_kind(&self) -> &str {
        KIND
    }

    fn pretrain_tasks(&self) -> Vec<String> {
        PRETEXT_TASKS.iter().map(|s| s.to_string()).collect()
    }
}

fn build_backbone(config: &serde_json::Value, seed: u64) -> Result<Box<dyn Backbone>> {
    let config: ResNetConfig = if config.is_null() {
        ResNetConfig::default()
    } else {
        serde_json::from_value(config.clone()).map_err(|e| Error::InvalidSetting {
            field: "backbone".into(),
            value: config.to_string(),
            reason: format!("image_resnet settings: {e}"),
        })?
    };
    Ok(Box::new(ImageResNet::new(config, seed)?))
}

inventory::submit!(BackboneRegistration {
    kind: KIND,
    summary: "small ResNet-style network on 8x8 grey images (classifier, rotation and pixel heads)",
    build: build_backbone,
});

inventory::submit!(DatasetRegistration {
    name: "digits",
    summary: "UCI handwritten digits (8x8): 100 labelled train images, 547 unlabelled, 1000 test (sizes: [data_settings])",
    build: |_seed, settings| {
        let sizes = SplitSizes::from_settings(settings)?;
        Ok(Arc::new(DigitsData::from_digits(Digits::builtin()?, &sizes)?))
    },
});

#[cfg(test)]
mod tests {
    use super::data::BUILTIN_PATH;
    use super::*;
    use crate::backbone::{backbone_from_kind, load_backbone, save_backbone};
    use crate::dataset::dataset_by_name;
    use std::path::Path;

    #[test]
    fn the_builtin_file_loads_with_the_documented_split() {
        let d = Digits::builtin().unwrap();
        assert_eq!(d.len(), 1797);
        let data = DigitsData::from_digits(d, &SplitSizes::default()).unwrap();
        let r = data.rows();
        assert_eq!(
            (r.train.len(), r.val.len(), r.pool.len(), r.test.len()),
            (100, 150, 547, 1000)
        );
        assert_eq!(r.test, (797..1797).collect::<Vec<_>>());
        let mut all: Vec<usize> = [&r.train[..], &r.val, &r.pool, &r.test].concat();
        all.sort_unstable();
        assert_eq!(all, (0..1797).collect::<Vec<_>>());
        for c in 0..CLASSES {
            let count = |rows: &[usize]| {
                rows.iter()
                    .filter(|&&i| data.digits().label(i) == c)
                    .count()
            };
            assert_eq!(count(&r.train), 10, "class {c}");
            assert_eq!(count(&r.val), 15, "class {c}");
        }
        // Pixel values are scaled to [0, 1] and the first image is a 0.
        assert_eq!(data.digits().label(0), 0);
        assert_eq!(data.digits().image(0)[2], 5.0 / 16.0);
        assert!((0..1797).all(|i| data
            .digits()
            .image(i)
            .iter()
            .all(|p| (0.0..=1.0).contains(p))));
        assert!(r.train.windows(2).all(|w| w[0] < w[1]));
    }

    fn line(pixel: &str, label: &str) -> String {
        let mut f = vec!["0"; PIXELS];
        f[10] = pixel;
        format!("{},{label}", f.join(","))
    }

    #[test]
    fn malformed_lines_are_errors_naming_the_line() {
        let good = line("3", "1");
        let path = Path::new("bad.csv");
        let cases = [
            (line("3", "1").replacen("0,", "", 1), "line 2", "found 64"),
            (line("17", "1"), "line 2", "pixel 11 is `17`"),
            (line("3", "10"), "line 2", "label is `10`"),
            (line("x", "1"), "line 2", "pixel 11 is `x`"),
            (line("-1", "1"), "line 2", "`-1`"),
            (line("3", "one"), "line 2", "label is `one`"),
        ];
        for (bad, at, what) in cases {
            let text = format!("{good}\n{bad}\n{good}\n");
            let e = Digits::from_csv(&text, path).unwrap_err().to_string();
            assert!(
                e.contains("bad.csv") && e.contains(at) && e.contains(what),
                "{e}"
            );
        }
        let ok = Digits::from_csv(&format!("{good}\r\n{good}\n"), path).unwrap();
        assert_eq!((ok.len(), ok.label(1)), (2, 1));
        assert!(Digits::from_csv("", path).is_err());
        let e = Digits::from_csv_gz(b"not gzip", Path::new(BUILTIN_PATH)).unwrap_err();
        assert!(e.to_string().contains(BUILTIN_PATH), "{e}");
    }

    #[test]
    fn batches_and_the_pretraining_stream() {
        let data = dataset_by_name("digits", 5).unwrap();
        assert_eq!(data.name(), "digits");
        assert_eq!(data.backbone_kind(), KIND);
        assert_eq!(data.scoring(), Scoring::Classification);
        assert_eq!(data.pretrain_tasks(), vec!["rotation", "masked_pixels"]);
        let b = data.batch(Split::Val, &[0, 149]);
        b.validate().unwrap();
        let v = b.visual().unwrap();
        assert_eq!(
            (v.frames, v.channels, v.height, v.width),
            (1, 1, SIDE, SIDE)
        );
        assert_eq!(b.labels().unwrap().classes, CLASSES);

        let p = data.pretrain_batch(3, 16);
        p.validate().unwrap();
        assert!(p.labels.is_none() && p.size == 16);
        assert_eq!(p, data.pretrain_batch(3, 16));
        assert_ne!(p, data.pretrain_batch(4, 16));
        // One pass over the pool visits every pool image once.
        let d = DigitsData::new().unwrap();
        let n = d.rows().pool.len();
        let pass = d.pretrain_batch(0, n);
        let pool: Vec<&[f32]> = d.rows().pool.iter().map(|&r| d.digits().image(r)).collect();
        let mut hits = vec![false; n];
        for i in 0..n {
            let img = pass.visual().unwrap().example(i);
            let k = (0..n)
                .find(|&k| !hits[k] && pool[k] == img)
                .expect("a pool image");
            hits[k] = true;
        }
    }

    #[test]
    fn a_backbone_file_round_trip_is_bit_exact() {
        let m =
            backbone_from_kind(KIND, &serde_json::json!({ "width": 8, "blocks": 1 }), 3).unwrap();
        let d = std::env::temp_dir().join(format!("meltr-digits-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("rt.safetensors");
        save_backbone(m.as_ref(), &p).unwrap();
        let back = load_backbone(&p).unwrap();
        assert_eq!(back.kind(), KIND);
        assert_eq!(back.config(), m.config());
        assert_eq!(back.layout(), m.layout());
        let (a, b) = (back.params().to_vec(), m.params().to_vec());
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()) && a.len() == b.len());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn settings_are_checked() {
        let e = backbone_from_kind(KIND, &serde_json::json!({ "widht": 8 }), 0).unwrap_err();
        assert!(e.to_string().contains("widht"), "{e}");
        let e = backbone_from_kind(KIND, &serde_json::json!({ "width": 0 }), 0).unwrap_err();
        assert!(e.to_string().contains("backbone.width"), "{e}");
        let m = ImageResNet::new(
            ResNetConfig {
                rotation_head: false,
                pixel_head: false,
                ..Default::default()
            },
            0,
        )
        .unwrap();
        use crate::backbone::parts::{ClassLogits, RotationLogits, VisualFeatures};
        use crate::backbone::{Free, Net, PartId};
        assert_eq!(
            m.provides(),
            vec![PartId::of::<VisualFeatures>(), PartId::of::<ClassLogits>()]
        );
        assert!(m.probe_blocks(PartId::of::<RotationLogits>()).is_empty());
        assert_eq!(
            m.probe_blocks(PartId::of::<ClassLogits>()),
            vec!["stem.conv.weight", "heads.class.weight"]
        );
        let b = DigitsData::new().unwrap().batch(Split::Train, &[0]);
        let net = m.net();
        let net: &dyn Net<Free> = &net;
        let e = net.part::<RotationLogits>(b.visual().unwrap()).unwrap_err();
        assert!(
            matches!(
                e,
                Error::MissingPart {
                    part: "rotation_logits"
                }
            ),
            "{e}"
        );
    }
}
