//! The built-in domains: each backbone with its data, registered by name
//! (`inventory`), so that run files, the trainer and the command line find
//! them without the generic core naming them.
//!
//! * [`video_text`]: the synthetic video-text world and a small UniVL-like
//!   model (text-to-video retrieval; the paper's setting).
//! * [`digits`]: the UCI handwritten digits and a small ResNet-style image
//!   classifier (the paper's image-only setting, appendix H).

pub mod digits;
pub mod video_text;
