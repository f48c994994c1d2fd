//! One process: every collective is the identity.

use super::Communicator;
use crate::error::Result;

/// The communicator of a run in one process (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_reduce_sum(&self, _: &mut [f32]) -> Result<()> {
        Ok(())
    }

    fn broadcast(&self, _: &mut [f32], _: usize) -> Result<()> {
        Ok(())
    }

    fn name(&self) -> &str {
        "single"
    }
}
