//! A parameter-sized buffer kept between calls.

/// A parameter-sized buffer kept between calls (empty in a clone).
#[derive(Debug, Default)]
pub(super) struct GradScratch(pub(super) std::sync::Mutex<Vec<f32>>);

impl Clone for GradScratch {
    fn clone(&self) -> GradScratch {
        GradScratch::default()
    }
}
