//! Head sizes of the reference code (docs/design.md §1).
//!
//! | preset     | h1  | d   | f   | reference K |
//! |------------|-----|-----|-----|-------------|
//! | `univl`    | 128 | 256 | 512 | 8           |
//! | `violet`   | 256 | 512 | 512 | 3           |
//! | `allinone` | 128 | 128 | 128 | 2           |
//! | `paper`    | 128 | 512 | 512 | (text: d = 512) |
//!
//! Widths are compile-time constants inside the head; K (the number of
//! losses) is chosen at run time, from 1 up to [`crate::meta_loss::MAX_TASKS`].

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Attention heads of the encoder layer (PyTorch's `nhead = 8`).
pub const HEADS: usize = 8;

/// A named size of the MELTR head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// UniVL sizes: h1 = 128, d = 256, f = 512.
    Univl,
    /// Violet sizes: h1 = 256, d = 512, f = 512.
    Violet,
    /// All-in-one sizes: h1 = d = f = 128.
    Allinone,
    /// The paper's text: d = 512 (h1 = 128, f = 512).
    Paper,
}

/// The widths of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dims {
    /// Hidden width of the scale embedding.
    pub h1: usize,
    /// Model width.
    pub d: usize,
    /// Feed-forward width.
    pub f: usize,
    /// Attention heads.
    pub heads: usize,
}

impl Preset {
    /// Every preset, in a fixed order.
    pub const ALL: [Preset; 4] = [
        Preset::Univl,
        Preset::Violet,
        Preset::Allinone,
        Preset::Paper,
    ];

    /// The preset's widths.
    pub fn dims(self) -> Dims {
        let (h1, d, f) = match self {
            Preset::Univl => (128, 256, 512),
            Preset::Violet => (256, 512, 512),
            Preset::Allinone => (128, 128, 128),
            Preset::Paper => (128, 512, 512),
        };
        Dims {
            h1,
            d,
            f,
            heads: HEADS,
        }
    }

    /// The name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Univl => "univl",
            Preset::Violet => "violet",
            Preset::Allinone => "allinone",
            Preset::Paper => "paper",
        }
    }

    /// Looks a preset up by name; the error lists the known names.
    pub fn from_name(name: &str) -> Result<Preset> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| Error::InvalidSetting {
                field: "preset".into(),
                value: name.into(),
                reason: "expected one of univl, violet, allinone, paper".into(),
            })
    }

    /// The preset whose widths are `dims`, if any.
    pub fn from_dims(dims: Dims) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.dims() == dims)
    }
}
