//! What the loop does with a step skipped for a non-finite value: counts
//! it, and stops the run when `max_skips_in_a_row` steps in a row were
//! skipped instead of spinning on a diverged model.

use crate::error::{Error, Result};

/// Counts skipped steps in a row against a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkipPolicy {
    /// Skipped steps in a row that stop the run.
    pub max_in_a_row: u64,
    in_a_row: u64,
}

impl SkipPolicy {
    /// A policy that stops after `max_in_a_row` skips in a row.
    pub fn new(max_in_a_row: u64) -> SkipPolicy {
        SkipPolicy {
            max_in_a_row,
            in_a_row: 0,
        }
    }

    /// Records step `step`'s fate; an error once the limit is reached,
    /// `where_to_resume` appended to its reason.
    pub fn record(&mut self, taken: bool, step: u64, where_to_resume: &str) -> Result<()> {
        self.in_a_row = if taken { 0 } else { self.in_a_row + 1 };
        if self.in_a_row < self.max_in_a_row {
            return Ok(());
        }
        Err(Error::InvalidSetting {
            field: "training".into(),
            value: format!("step {step}"),
            reason: format!(
                "stopped: the last {} steps were all skipped for non-finite losses, \
                 weights or gradients (max_skips_in_a_row = {}){where_to_resume}",
                self.in_a_row, self.max_in_a_row
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_step_resets_the_count_and_the_limit_stops_with_its_numbers() {
        let mut p = SkipPolicy::new(3);
        for (taken, ok) in [(false, true), (false, true), (true, true), (false, true)] {
            assert_eq!(p.record(taken, 1, "").is_ok(), ok);
        }
        p.record(false, 5, "").unwrap();
        let e = p.record(false, 6, "; see x").unwrap_err().to_string();
        assert!(
            e.contains("step 6") && e.contains("last 3 steps") && e.contains("= 3); see x"),
            "{e}"
        );
    }
}
