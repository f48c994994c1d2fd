//! The backbone registry: each backbone kind registers a constructor with
//! `inventory::submit!` beside its type, so backbone files and checkpoints
//! are read back as the model that wrote them without the core naming any
//! model.

use super::Backbone;
use crate::error::{Error, Result};

/// One registered backbone kind.
#[derive(Debug)]
pub struct BackboneRegistration {
    /// The kind a backbone file records ([`Backbone::kind`]).
    pub kind: &'static str,
    /// One line for listings.
    pub summary: &'static str,
    /// A freshly initialised backbone from its settings ([`Backbone::config`];
    /// `null` for the defaults) and a seed.
    pub build: fn(config: &serde_json::Value, seed: u64) -> Result<Box<dyn Backbone>>,
}

inventory::collect!(BackboneRegistration);

/// All registered backbone kinds, sorted.
pub fn registered_backbones() -> Vec<&'static BackboneRegistration> {
    let mut v: Vec<_> = inventory::iter::<BackboneRegistration>
        .into_iter()
        .collect();
    v.sort_by_key(|r| r.kind);
    v.dedup_by_key(|r| r.kind);
    v
}

/// The registration of `kind`, or an error listing the known kinds.
pub fn find_backbone(kind: &str) -> Result<&'static BackboneRegistration> {
    let all = registered_backbones();
    all.iter()
        .find(|r| r.kind == kind)
        .copied()
        .ok_or_else(|| Error::InvalidSetting {
            field: "backbone kind".into(),
            value: kind.into(),
            reason: format!(
                "known kinds: {}",
                all.iter().map(|r| r.kind).collect::<Vec<_>>().join(", ")
            ),
        })
}

/// A fresh backbone of `kind`, or an error listing the known kinds.
pub fn backbone_from_kind(
    kind: &str,
    config: &serde_json::Value,
    seed: u64,
) -> Result<Box<dyn Backbone>> {
    (find_backbone(kind)?.build)(config, seed)
}
