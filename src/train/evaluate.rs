//! Evaluation in the metric that fits the data set: text-to-visual
//! retrieval (every caption of a split ranks every clip by cosine
//! similarity of the backbone's retrieval embeddings) or classification
//! accuracy.

use crate::backbone::parts::{ClassLogits, TextEmbedding, VisualEmbedding};
use crate::backbone::Backbone;
use crate::dataset::{Dataset, Scoring, Split};
use crate::error::Result;
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

/// Recall at 1, 5, 10 (percent) and the median rank (1 = best).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Retrieval {
    /// Percent of captions whose clip ranks first.
    pub r1: f32,
    /// Percent within the top 5.
    pub r5: f32,
    /// Percent within the top 10.
    pub r10: f32,
    /// Median rank of the matching clip.
    pub median_rank: f32,
}

/// Ranks of the matching clip for each caption, from a similarity matrix
/// `sim[i * n + j]` = caption i against clip j (ties count against).
pub fn ranks(sim: &[f32], n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            let row = &sim[i * n..(i + 1) * n];
            let own = row[i];
            1 + row
                .iter()
                .enumerate()
                .filter(|&(j, &s)| j != i && s >= own)
                .count()
        })
        .collect()
}

/// The metrics of a list of ranks.
pub fn metrics(ranks: &[usize]) -> Retrieval {
    let n = ranks.len().max(1) as f32;
    let within = |k: usize| 100.0 * ranks.iter().filter(|&&r| r <= k).count() as f32 / n;
    let mut sorted = ranks.to_vec();
    sorted.sort_unstable();
    let median_rank = match sorted.len() {
        0 => f32::NAN,
        m if m % 2 == 1 => sorted[m / 2] as f32,
        m => (sorted[m / 2 - 1] + sorted[m / 2]) as f32 / 2.0,
    };
    Retrieval {
        r1: within(1),
        r5: within(5),
        r10: within(10),
        median_rank,
    }
}

/// Accuracy of a classifier (percent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// Percent of examples whose top class is the label.
    pub accuracy: f32,
}

/// A backbone's score on a split, in the metric that fits the data set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "metric", rename_all = "snake_case")]
pub enum Metrics {
    /// Text-to-visual retrieval.
    Retrieval(Retrieval),
    /// Classification.
    Classification(Classification),
}

impl Metrics {
    /// The number tables lead with (R@1 or accuracy, percent) and its name.
    pub fn headline(&self) -> (&'static str, f32) {
        match self {
            Metrics::Retrieval(r) => ("R@1", r.r1),
            Metrics::Classification(c) => ("accuracy", c.accuracy),
        }
    }
}

impl std::fmt::Display for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Metrics::Retrieval(r) => write!(
                f,
                "R@1 {:.1}  R@5 {:.1}  R@10 {:.1}  MedR {}",
                r.r1, r.r5, r.r10, r.median_rank
            ),
            Metrics::Classification(c) => write!(f, "accuracy {:.1}", c.accuracy),
        }
    }
}

/// Scores `model` on the first `limit` examples (default: all) of `split`,
/// with no tape, in chunks of 200 examples.
pub fn evaluate(
    model: &dyn Backbone,
    data: &dyn Dataset,
    split: Split,
    limit: Option<usize>,
) -> Result<Metrics> {
    let n = data.len(split).min(limit.unwrap_or(usize::MAX));
    let net = model.net_free(model.params());
    let chunks = (0..n).collect::<Vec<_>>();
    let metrics = match data.scoring() {
        Scoring::Retrieval => {
            let (mut text, mut video) = (vec![], vec![]);
            for idx in chunks.chunks(200) {
                let b = data.batch(split, idx);
                text.extend(net.part::<TextEmbedding>(b.text()?)?.as_vec());
                video.extend(net.part::<VisualEmbedding>(b.visual()?)?.as_vec());
            }
            let d = text.len() / n.max(1);
            let mut sim = vec![0.0f32; n * n];
            for i in 0..n {
                let t = &text[i * d..(i + 1) * d];
                for j in 0..n {
                    let v = &video[j * d..(j + 1) * d];
                    sim[i * n + j] = t.iter().zip(v).map(|(a, b)| a * b).sum();
                }
            }
            Metrics::Retrieval(metrics(&ranks(&sim, n)))
        }
        Scoring::Classification => {
            let mut right = 0usize;
            for idx in chunks.chunks(200) {
                let b = data.batch(split, idx);
                let logits = net.part::<ClassLogits>(b.visual()?)?;
                let classes = logits.shape().1;
                let logits = logits.as_vec();
                for (row, &label) in logits.chunks(classes).zip(&b.labels()?.ids) {
                    right += (argmax(row) == label) as usize;
                }
            }
            Metrics::Classification(Classification {
                accuracy: 100.0 * right as f32 / n.max(1) as f32,
            })
        }
    };
    model.release_buffers();
    Ok(metrics)
}

/// Index of the largest value (the first of ties; NaN never wins).
fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] || row[best].is_nan() {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_and_recalls_of_a_hand_made_similarity() {
        // Caption 0 finds its clip first; caption 1 second; caption 2 third.
        let sim = [
            0.9, 0.1, 0.2, //
            0.8, 0.5, 0.1, //
            0.7, 0.6, 0.3,
        ];
        let r = ranks(&sim, 3);
        assert_eq!(r, vec![1, 2, 3]);
        let m = metrics(&r);
        assert!((m.r1 - 100.0 / 3.0).abs() < 1e-4);
        assert_eq!((m.r5, m.r10, m.median_rank), (100.0, 100.0, 2.0));
    }

    #[test]
    fn argmax_takes_the_first_of_ties_and_skips_nan() {
        assert_eq!(argmax(&[0.1, 0.5, 0.5]), 1);
        assert_eq!(argmax(&[f32::NAN, -1.0, 2.0]), 2);
    }

    #[test]
    fn ties_count_against_the_caption() {
        assert_eq!(ranks(&[0.5, 0.5, 0.5, 0.5], 2), vec![2, 2]);
    }
}
