//! A batch in a form every backbone and task understands: images or clips,
//! captions, class labels — each optional, all example-major.
//!
//! Data sets build batches ([`crate::dataset::Dataset::batch`]); tasks read
//! the parts they need (and get an error naming the missing input when a
//! batch lacks it) and may derive new inputs from them: quarter turns
//! ([`Visual::rotated`]) and mixtures ([`Visual::mixed`]) work on images and
//! clips alike.
//!
//! In a data-parallel step a batch is one rank's rows of the global batch
//! ([`Batch::shard`]): a task draws its random choices for the whole global
//! batch and keeps its own rows ([`Batch::draw`], [`Batch::own`]), so N
//! ranks draw what one process draws. A task that reads other ranks'
//! examples (mixup's partners, masks over every caption) gets them from the
//! whole batch's inputs when the loader kept them ([`Batch::into_shard`]:
//! the trainer's does, as every rank holds the data set), and gathers them
//! from the other ranks otherwise.

use crate::distributed::{shard_range, Communicator, Shard};
use crate::error::{Error, Result};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

/// Images (`frames == 1`) or clips: `examples × frames × channels × height × width`
/// values, row-major in that order.
#[derive(Debug, Clone, PartialEq)]
pub struct Visual {
    /// The values.
    pub pixels: Vec<f32>,
    /// Frames per example (1 for images).
    pub frames: usize,
    /// Channels per frame.
    pub channels: usize,
    /// Rows per frame.
    pub height: usize,
    /// Columns per frame.
    pub width: usize,
}

/// Captions as token ids: `examples × len`, padded.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    /// The ids.
    pub tokens: Vec<usize>,
    /// Tokens per caption.
    pub len: usize,
    /// Vocabulary size (ids are below it).
    pub vocab: usize,
    /// The padding id.
    pub pad: usize,
    /// The `[MASK]` id (masked-token tasks put it where a token is hidden).
    pub mask: usize,
}

/// One class id per example.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// The ids.
    pub ids: Vec<usize>,
    /// Number of classes (ids are below it).
    pub classes: usize,
}

/// One batch; see the module docs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {
    /// Number of examples.
    pub size: usize,
    /// Images or clips.
    pub visual: Option<Visual>,
    /// Captions.
    pub text: Option<Text>,
    /// Class labels.
    pub labels: Option<Labels>,
    /// Where these examples sit in the step's global batch (the default:
    /// they are all of it).
    pub shard: Shard,
    /// The global batch this one is a shard of, when its loader kept it
    /// ([`Batch::into_shard`]); `None` in one process, or when only this
    /// shard was loaded.
    pub whole: Option<Arc<Batch>>,
}

impl Visual {
    /// Values per frame.
    pub fn frame_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Values per example.
    pub fn example_len(&self) -> usize {
        self.frames * self.frame_len()
    }

    /// Number of examples.
    pub fn examples(&self) -> usize {
        self.pixels.len() / self.example_len().max(1)
    }

    /// Example `i`'s values.
    pub fn example(&self, i: usize) -> &[f32] {
        let n = self.example_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// The same shape holding other values.
    pub fn with_pixels(&self, pixels: Vec<f32>) -> Visual {
        Visual {
            pixels,
            ..self.clone()
        }
    }

    /// The same shape with `f` applied to every value, in order.
    pub fn map_pixels(&self, f: impl FnMut(f32) -> f32) -> Visual {
        self.with_pixels(self.pixels.iter().copied().map(f).collect())
    }

    /// Every frame of example `i` turned by `turns[i]` quarter turns
    /// counter-clockwise. Frames must be square.
    pub fn rotated(&self, turns: &[usize]) -> Result<Visual> {
        let n = self.height;
        if self.width != n {
            return Err(Error::InvalidSetting {
                field: "rotation".into(),
                value: format!("{}x{} frames", self.height, self.width),
                reason: "quarter turns need square frames".into(),
            });
        }
        let mut out = Vec::with_capacity(self.pixels.len());
        for (i, &q) in turns.iter().enumerate().take(self.examples()) {
            for plane in self.example(i).chunks_exact(n * n) {
                out.extend(rotate_plane(plane, n, q));
            }
        }
        Ok(self.with_pixels(out))
    }

    /// Example `i` mixed with example `partner[i]`: `λ_i x_i + (1 − λ_i) x_partner`.
    pub fn mixed(&self, lambdas: &[f32], partner: &[usize]) -> Visual {
        let mut out = Vec::with_capacity(self.pixels.len());
        for (i, (&l, &p)) in lambdas.iter().zip(partner).enumerate() {
            out.extend(
                self.example(i)
                    .iter()
                    .zip(self.example(p))
                    .map(|(x, y)| l * x + (1.0 - l) * y),
            );
        }
        self.with_pixels(out)
    }
}

/// One `n × n` plane turned `q` quarter turns counter-clockwise.
fn rotate_plane(src: &[f32], n: usize, q: usize) -> Vec<f32> {
    let q = q % 4;
    if q == 0 {
        return src.to_vec();
    }
    let mut dst = vec![0.0; n * n];
    for y in 0..n {
        for x in 0..n {
            // Counter-clockwise: destination (y', x') takes source (y, x).
            let (ny, nx) = match q {
                1 => (n - 1 - x, y),
                2 => (n - 1 - y, n - 1 - x),
                _ => (x, n - 1 - y),
            };
            dst[ny * n + nx] = src[y * n + x];
        }
    }
    dst
}

impl Text {
    /// Caption `i`'s tokens.
    pub fn caption(&self, i: usize) -> &[usize] {
        &self.tokens[i * self.len..(i + 1) * self.len]
    }

    /// The same captions with other ids (e.g. some replaced by `mask`).
    pub fn with_tokens(&self, tokens: Vec<usize>) -> Text {
        Text {
            tokens,
            ..self.clone()
        }
    }
}

impl Batch {
    /// The visual input, or an error saying the batch has none.
    pub fn visual(&self) -> Result<&Visual> {
        self.visual.as_ref().ok_or(Error::MissingInput {
            input: "images or clips",
        })
    }

    /// The captions, or an error saying the batch has none.
    pub fn text(&self) -> Result<&Text> {
        self.text
            .as_ref()
            .ok_or(Error::MissingInput { input: "captions" })
    }

    /// The class labels, or an error saying the batch has none.
    pub fn labels(&self) -> Result<&Labels> {
        self.labels.as_ref().ok_or(Error::MissingInput {
            input: "class labels",
        })
    }

    /// Examples in the step's global batch (this batch's size in one process).
    pub fn global_size(&self) -> usize {
        self.shard.global(self.size)
    }

    /// The rows of the global batch this batch holds.
    pub fn global_rows(&self) -> Range<usize> {
        self.shard.rows(self.size)
    }

    /// This batch's part of `whole`, a vector over the global batch with
    /// the same number of values per example (all of it in one process).
    pub fn own<'a, T>(&self, whole: &'a [T]) -> Result<&'a [T]> {
        let global = self.global_size();
        if global == 0 || whole.len() % global != 0 {
            return Err(Error::Length {
                what: format!("values over the global batch of {global} examples"),
                expected: global,
                found: whole.len(),
            });
        }
        Ok(&whole[self.own_values(whole.len() / global)])
    }

    /// `per_example` values from `draw` for every example of the whole
    /// global batch, in order, of which this batch's are returned: every
    /// rank draws what one process draws.
    pub fn draw<R>(&self, per_example: usize, mut draw: impl FnMut() -> R) -> Result<Vec<R>> {
        let mut whole: Vec<R> = (0..self.global_size() * per_example)
            .map(|_| draw())
            .collect();
        Ok(whole.drain(self.own_values(per_example)).collect())
    }

    /// Positions of this batch's values in a vector over the global batch
    /// with `per_example` values per example.
    fn own_values(&self, per_example: usize) -> Range<usize> {
        let rows = self.global_rows();
        rows.start * per_example..rows.end * per_example
    }

    /// The examples in `rows`, as a batch of their own (whole).
    pub fn rows(&self, rows: Range<usize>) -> Batch {
        let (a, b) = (rows.start, rows.end);
        Batch {
            size: b - a,
            visual: self.visual.as_ref().map(|v| {
                let n = v.example_len();
                v.with_pixels(v.pixels[a * n..b * n].to_vec())
            }),
            text: self
                .text
                .as_ref()
                .map(|t| t.with_tokens(t.tokens[a * t.len..b * t.len].to_vec())),
            labels: self.labels.as_ref().map(|l| Labels {
                ids: l.ids[a..b].to_vec(),
                classes: l.classes,
            }),
            shard: Shard::default(),
            whole: None,
        }
    }

    /// This rank's rows of `self`, the global batch of a data-parallel step
    /// over `comm`'s ranks ([`shard_range`]), keeping `self` for the
    /// `whole_*` inputs (read then without a collective); `self` itself when
    /// `comm` has one rank.
    pub fn into_shard(self, comm: Arc<dyn Communicator>) -> Batch {
        if comm.size() == 1 {
            return self;
        }
        let mine = shard_range(self.size, comm.rank(), comm.size());
        let mut shard = self.rows(mine.clone());
        shard.shard = Shard::of(comm, self.size);
        shard.whole = Some(Arc::new(self));
        shard
    }

    /// The whole global batch's images or clips, for tasks that read other
    /// ranks' examples, e.g. mixup's partners: this batch's own in one
    /// process, the kept global batch's in a shard made by
    /// [`Batch::into_shard`], else gathered from every rank (which sends
    /// every input).
    pub fn whole_visual(&self) -> Result<Cow<'_, Visual>> {
        let v = self.visual()?;
        if self.shard.is_whole() {
            return Ok(Cow::Borrowed(v));
        }
        if let Some(w) = &self.whole {
            return w.visual().map(Cow::Borrowed);
        }
        Ok(Cow::Owned(v.with_pixels(
            self.shard.all_gather(&v.pixels, v.example_len())?.concat(),
        )))
    }

    /// The whole global batch's captions (see [`Batch::whole_visual`]).
    pub fn whole_text(&self) -> Result<Cow<'_, Text>> {
        let t = self.text()?;
        if self.shard.is_whole() {
            return Ok(Cow::Borrowed(t));
        }
        if let Some(w) = &self.whole {
            return w.text().map(Cow::Borrowed);
        }
        Ok(Cow::Owned(
            t.with_tokens(self.gather_ids(&t.tokens, t.len)?),
        ))
    }

    /// The whole global batch's class labels (see [`Batch::whole_visual`]).
    pub fn whole_labels(&self) -> Result<Cow<'_, Labels>> {
        let l = self.labels()?;
        if self.shard.is_whole() {
            return Ok(Cow::Borrowed(l));
        }
        if let Some(w) = &self.whole {
            return w.labels().map(Cow::Borrowed);
        }
        Ok(Cow::Owned(Labels {
            ids: self.gather_ids(&l.ids, 1)?,
            classes: l.classes,
        }))
    }

    /// Every rank's ids, `per_example` each, in rank order (sent as f32:
    /// exact below 2^24, which [`Batch::validate`]'s vocabularies and
    /// classes stay under).
    fn gather_ids(&self, ids: &[usize], per_example: usize) -> Result<Vec<usize>> {
        let sent: Vec<f32> = ids.iter().map(|&x| x as f32).collect();
        let all = self.shard.all_gather(&sent, per_example)?.concat();
        Ok(all.into_iter().map(|x| x as usize).collect())
    }

    /// Checks that the batch is non-empty, its parts agree in size and
    /// every id is in range.
    pub fn validate(&self) -> Result<()> {
        let bad = |value: String, reason: String| {
            Err(Error::InvalidSetting {
                field: "batch".into(),
                value,
                reason,
            })
        };
        if self.size == 0 {
            return bad(
                "0 examples".into(),
                "a batch needs at least one example".into(),
            );
        }
        if let Some(v) = &self.visual {
            if v.example_len() == 0 || v.pixels.len() != self.size * v.example_len() {
                return bad(
                    format!("{} pixel values", v.pixels.len()),
                    format!(
                        "expected {} examples of {}x{}x{}x{} values",
                        self.size, v.frames, v.channels, v.height, v.width
                    ),
                );
            }
        }
        if let Some(t) = &self.text {
            if t.len == 0 || t.tokens.len() != self.size * t.len {
                return bad(
                    format!("{} tokens", t.tokens.len()),
                    format!("expected {} captions of {} tokens", self.size, t.len),
                );
            }
            if let Some(&id) = t.tokens.iter().find(|&&id| id >= t.vocab) {
                return bad(
                    format!("token {id}"),
                    format!("token ids must be below {}", t.vocab),
                );
            }
        }
        if let Some(l) = &self.labels {
            if l.ids.len() != self.size {
                return bad(
                    format!("{} labels", l.ids.len()),
                    format!("expected {}", self.size),
                );
            }
            if let Some(&id) = l.ids.iter().find(|&&id| id >= l.classes) {
                return bad(
                    format!("label {id}"),
                    format!("labels must be below {}", l.classes),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(pixels: Vec<f32>, side: usize) -> Visual {
        Visual {
            pixels,
            frames: 1,
            channels: 1,
            height: side,
            width: side,
        }
    }

    #[test]
    fn four_quarter_turns_are_the_identity_and_one_turns_counter_clockwise() {
        // 1 2      2 4
        // 3 4  ->  1 3
        let v = images(vec![1.0, 2.0, 3.0, 4.0], 2);
        assert_eq!(v.rotated(&[1]).unwrap().pixels, vec![2.0, 4.0, 1.0, 3.0]);
        let mut r = v.clone();
        for _ in 0..4 {
            r = r.rotated(&[1]).unwrap();
        }
        assert_eq!(r, v);
        assert_eq!(v.rotated(&[2]).unwrap().pixels, vec![4.0, 3.0, 2.0, 1.0]);
    }

    /// 5 examples of 1x2x2 pixels, 3-token captions and labels.
    fn five() -> Batch {
        Batch {
            size: 5,
            visual: Some(images((0..20).map(|i| i as f32).collect(), 2)),
            text: Some(Text {
                tokens: (0..15).map(|i| i % 7).collect(),
                len: 3,
                vocab: 7,
                pad: 0,
                mask: 1,
            }),
            labels: Some(Labels {
                ids: vec![4, 0, 3, 1, 2],
                classes: 5,
            }),
            ..Batch::default()
        }
    }

    #[test]
    fn a_shard_reads_the_whole_batch_kept_or_gathered_alike() {
        use crate::distributed::LocalGroup;
        for ranks in [2, 3] {
            let got = LocalGroup::run(ranks, |c| {
                let (rank, comm) = (c.rank(), Arc::new(c));
                let kept = five().into_shard(comm.clone());
                let mine = shard_range(5, rank, ranks);
                let mut alone = five().rows(mine.clone());
                alone.shard = Shard::of(comm, 5);
                let whole = |b: &Batch| {
                    let (v, t, l) = (b.whole_visual(), b.whole_text(), b.whole_labels());
                    (
                        v.unwrap().into_owned(),
                        t.unwrap().into_owned(),
                        l.unwrap().into_owned(),
                    )
                };
                assert!(kept.whole.is_some() && alone.whole.is_none());
                let own = |b: &Batch| (b.visual.clone(), b.text.clone(), b.labels.clone());
                (
                    mine,
                    kept.global_rows(),
                    own(&kept),
                    own(&alone),
                    whole(&kept),
                    whole(&alone),
                )
            });
            let b = five();
            let all = (
                b.visual.clone().unwrap(),
                b.text.clone().unwrap(),
                b.labels.clone().unwrap(),
            );
            for (mine, rows, kept, alone, kept_whole, gathered) in got {
                assert_eq!(rows, mine.clone());
                let r = b.rows(mine);
                assert_eq!(kept, (r.visual, r.text, r.labels));
                assert_eq!(kept, alone);
                assert_eq!(kept_whole, all);
                assert_eq!(gathered, all);
            }
        }
        // One rank: the batch itself.
        let one = five().into_shard(Arc::new(crate::distributed::SingleProcess));
        assert!(one.shard.is_whole() && one.whole.is_none());
    }

    #[test]
    fn mixing_weights_each_example_with_its_partner() {
        let v = images(vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0], 2);
        let m = v.mixed(&[0.25, 1.0], &[1, 0]);
        assert_eq!(m.pixels, vec![0.75, 0.75, 0.75, 0.75, 1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn a_batch_whose_parts_disagree_is_refused() {
        let b = Batch {
            size: 3,
            visual: Some(images(vec![0.0; 8], 2)),
            ..Batch::default()
        };
        assert!(b
            .validate()
            .unwrap_err()
            .to_string()
            .contains("8 pixel values"));
        let b = Batch {
            size: 2,
            visual: Some(images(vec![0.0; 8], 2)),
            text: None,
            labels: Some(Labels {
                ids: vec![0, 10],
                classes: 10,
            }),
            ..Batch::default()
        };
        assert!(b.validate().unwrap_err().to_string().contains("label 10"));
    }
}
