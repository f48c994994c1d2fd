//! Text-to-video retrieval: every caption of a split ranks every clip by
//! cosine similarity of the backbone's retrieval embeddings.

use crate::backbone::VideoText;
use crate::world::{Batch, Example};
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

/// Text-to-video retrieval over `examples` (embedded in chunks, no tape).
pub fn evaluate(model: &VideoText, examples: &[Example]) -> Retrieval {
    let net = model.net();
    let mut text = vec![];
    let mut video = vec![];
    for chunk in examples.chunks(200) {
        let b = Batch::from_examples(chunk);
        text.extend(net.text_embedding(&b.tokens).as_vec());
        video.extend(net.video_embedding(&b.frames).as_vec());
    }
    let n = examples.len();
    let d = text.len() / n.max(1);
    let mut sim = vec![0.0f32; n * n];
    for i in 0..n {
        let t = &text[i * d..(i + 1) * d];
        for j in 0..n {
            let v = &video[j * d..(j + 1) * d];
            sim[i * n + j] = t.iter().zip(v).map(|(a, b)| a * b).sum();
        }
    }
    metrics(&ranks(&sim, n))
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
    fn ties_count_against_the_caption() {
        assert_eq!(ranks(&[0.5, 0.5, 0.5, 0.5], 2), vec![2, 2]);
    }
}
