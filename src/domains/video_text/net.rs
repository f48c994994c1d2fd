//! `VtNet`: the video-text backbone's forward pass at one parameter
//! vector, with or without a gradient tape, and its parts as a
//! [`crate::backbone::Net`].
//!
//! A taped tensor carries its tape; to use a tensor twice, take
//! `x.retaped::<T>()` for the extra uses and keep the original (the one
//! holding the tape) in the result — dropping it drops the gradient of
//! everything before it.
//!
//! Tokens travel as row matrices `(rows, width)` (the `width` setting,
//! [`BackboneConfig::width`]): a text batch of `b`
//! captions is `b * MAX_TOKENS` rows, a video batch `b * FRAMES` rows,
//! example-major. Each transformer layer is post-norm, as PyTorch's
//! `nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward,
//! dropout=0, batch_first=True)`: `x = LN1(x + MHA(x)); x = LN2(x + FF(x))`.

use super::world::{FRAMES, FRAME_LEN, MAX_TOKENS, VOCAB_SIZE};
use super::BackboneConfig;
use super::{VideoText, HEADS, ROTATIONS};
use crate::backbone::parts::{
    MaskedFramePrediction, MaskedTokenLogits, RotationLogits, TextEmbedding, TextFeatures,
    VisualEmbedding, VisualFeatures,
};
use crate::backbone::{
    AnyTape, Feats, FlatParams, Free, Loss, Net, Request, Taped, TapedNet, Text, Visual,
};
use crate::error::Result;
use crate::tensor::Dev;
use crate::tensor::ParamVec;
use dfdx::prelude::*;

/// Rows per example in the cross-modal encoder: caption tokens, then frames.
pub const CROSS_LEN: usize = MAX_TOKENS + FRAMES;

/// The cross-encoder row of example `i`'s caption token `j`.
pub fn cross_text_row(i: usize, j: usize) -> usize {
    i * CROSS_LEN + j
}

/// The cross-encoder row of example `i`'s frame `f`.
pub fn cross_video_row(i: usize, f: usize) -> usize {
    i * CROSS_LEN + MAX_TOKENS + f
}

/// The backbone's forward pass at one parameter vector; see the module docs.
pub struct VtNet<'m, T> {
    p: FlatParams<'m, T>,
    /// The width and which optional heads the model has (the parts it serves).
    config: BackboneConfig,
}

impl<'m> VtNet<'m, Taped> {
    /// A taped net at `w`.
    pub fn taped(model: &'m VideoText, w: &ParamVec) -> Self {
        VtNet {
            p: FlatParams::taped(model.layout_ref(), model.indices(), w),
            config: *model.settings(),
        }
    }
}

impl<'m> VtNet<'m, Free> {
    /// A tape-free net at `w`.
    pub fn free(model: &'m VideoText, w: &ParamVec) -> Self {
        VtNet {
            p: FlatParams::free(model.layout_ref(), model.indices(), w),
            config: *model.settings(),
        }
    }
}

impl TapedNet for VtNet<'_, Taped> {
    fn gradient(&self, loss: Loss<Taped>) -> ParamVec {
        self.p.gradient(loss)
    }
}

impl<'m, T: Tape<f32, Dev>> VtNet<'m, T> {
    /// A tape-free copy of this net (same parameters): its outputs are
    /// constants here, e.g. regression or contrastive targets.
    pub fn detached(&self) -> VtNet<'m, Free> {
        VtNet {
            p: self.p.detached(),
            config: self.config,
        }
    }

    /// The device.
    pub fn dev(&self) -> &Dev {
        self.p.dev()
    }

    /// The width of every token representation (`d_model`).
    pub fn width(&self) -> usize {
        self.config.width
    }

    /// The parameter block `name`, as a tensor of shape `shape` on this net's tape.
    pub fn param<S: Shape>(&self, name: &str, shape: S) -> Tensor<S, f32, Dev, T> {
        self.p.param_shaped(name, shape)
    }

    /// A constant (untracked) tensor made of host values.
    pub fn constant<S: Shape>(&self, values: Vec<f32>, shape: S) -> Tensor<S, f32, Dev> {
        self.dev().tensor_from_vec(values, shape)
    }

    /// `x Wᵀ + b` with the `name.weight` (`o x i`, `i` the width of `x`)
    /// and `name.bias` blocks.
    pub fn linear(&self, x: Feats<T>, name: &str, o: usize) -> Feats<T> {
        let i = x.shape().1;
        let w = self.param(&format!("{name}.weight"), (o, i));
        let b = self.param(&format!("{name}.bias"), (o,));
        let xw = x.matmul(w.permute());
        #[cfg(not(feature = "cuda"))]
        {
            crate::tensor::fused::add_bias(xw, b)
        }
        #[cfg(feature = "cuda")]
        {
            let shape = *xw.shape();
            xw + b.broadcast_like::<_, Axis<0>>(&shape)
        }
    }

    /// Layer normalisation over the feature axis (eps 1e-5), `name.weight`/`name.bias`.
    pub fn layer_norm(&self, x: Feats<T>, name: &str) -> Feats<T> {
        let d = (self.width(),);
        let g = self.param(&format!("{name}.weight"), d);
        let b = self.param(&format!("{name}.bias"), d);
        #[cfg(not(feature = "cuda"))]
        {
            crate::tensor::fused::layer_norm(x, g, b, 1e-5)
        }
        #[cfg(feature = "cuda")]
        {
            let shape = *x.shape();
            x.normalize::<Axis<1>>(1e-5) * g.broadcast_like::<_, Axis<0>>(&shape)
                + b.broadcast_like::<_, Axis<0>>(&shape)
        }
    }

    /// Multi-head self-attention over `b` sequences of `s` rows each.
    pub fn self_attention(&self, x: Feats<T>, b: usize, s: usize, name: &str) -> Feats<T> {
        let d = self.width();
        let head_dim = d / HEADS;
        let xk = x.retaped::<T>();
        let xv = x.retaped::<T>();
        let heads = (b, s, HEADS, head_dim);
        let q = self
            .linear(x, &format!("{name}.q"), d)
            .reshape_like(&heads)
            .permute::<_, Axes4<0, 2, 1, 3>>();
        let k = self
            .linear(xk, &format!("{name}.k"), d)
            .reshape_like(&heads)
            .permute::<_, Axes4<0, 2, 3, 1>>();
        let v = self
            .linear(xv, &format!("{name}.v"), d)
            .reshape_like(&heads)
            .permute::<_, Axes4<0, 2, 1, 3>>();
        let scale = 1.0 / (head_dim as f32).sqrt();
        #[cfg(not(feature = "cuda"))]
        let att = crate::tensor::fused::scaled_softmax(q.matmul(k), scale);
        #[cfg(feature = "cuda")]
        let att = (q.matmul(k) * scale).softmax::<Axis<3>>();
        let out = att
            .matmul(v)
            .permute::<_, Axes4<0, 2, 1, 3>>()
            .reshape_like(&(b * s, d));
        self.linear(out, &format!("{name}.out"), d)
    }

    /// One post-norm transformer encoder layer over `b` sequences of `s`
    /// rows; the feed-forward width is twice the model's.
    pub fn encoder_layer(&self, x: Feats<T>, b: usize, s: usize, name: &str) -> Feats<T> {
        let d = self.width();
        let res = x.retaped::<T>();
        let a = self.self_attention(x, b, s, &format!("{name}.attn"));
        let x = self.layer_norm(res + a, &format!("{name}.norm1"));
        let res = x.retaped::<T>();
        let h = self.linear(x, &format!("{name}.ff1"), 2 * d).relu();
        let h = self.linear(h, &format!("{name}.ff2"), d);
        self.layer_norm(res + h, &format!("{name}.norm2"))
    }

    /// Adds an `(s, width)` position table to `b` sequences of `s` rows.
    fn add_positions(&self, x: Feats<T>, b: usize, s: usize, name: &str) -> Feats<T> {
        let d = self.width();
        let pos = self
            .param(name, (s, d))
            .broadcast_like::<_, Axis<0>>(&(b, s, d))
            .reshape_like(&(b * s, d));
        x + pos
    }

    /// Token + position embeddings of captions (`b * MAX_TOKENS` ids).
    pub fn embed_text(&self, tokens: &[usize]) -> Feats<T> {
        let b = tokens.len() / MAX_TOKENS;
        let idx = self.dev().tensor_from_vec(tokens.to_vec(), (tokens.len(),));
        let table = self.param("text.token_embedding", (VOCAB_SIZE, self.width()));
        let x: Feats<T> = table.gather(idx);
        self.add_positions(x, b, MAX_TOKENS, "text.position_embedding")
    }

    /// The text encoder: embeddings, then one encoder layer.
    pub fn encode_text(&self, tokens: &[usize]) -> Feats<T> {
        let b = tokens.len() / MAX_TOKENS;
        let x = self.embed_text(tokens);
        self.encoder_layer(x, b, MAX_TOKENS, "text.layer")
    }

    /// Per-frame features (`b * FRAMES` rows) of clips (`b * CLIP_LEN` pixels):
    /// a linear map of each centred frame.
    pub fn embed_frames(&self, frames: &[f32]) -> Feats<T> {
        let name = "video.frame_embedding";
        #[cfg(not(feature = "cuda"))]
        {
            // The centred pixels as host rows: a constant, whose gradient
            // (a product as large as the forward) the fused op skips.
            let mut x = crate::tensor::fused::Scratch::take(frames.len());
            for (x, p) in x.iter_mut().zip(frames) {
                *x = p - 0.5;
            }
            let o = self.width();
            let w = self.param(&format!("{name}.weight"), (o, FRAME_LEN));
            let b = self.param(&format!("{name}.bias"), (o,));
            crate::tensor::fused::linear_of_constant(x, w, b)
        }
        #[cfg(feature = "cuda")]
        {
            let n = frames.len() / FRAME_LEN;
            let x = self.constant(frames.to_vec(), (n, FRAME_LEN)) - 0.5;
            self.linear(x.retaped::<T>(), name, self.width())
        }
    }

    /// Replaces the features of frames where `masked[i]` by the learned mask vector.
    pub fn mask_frames(&self, x: Feats<T>, masked: &[bool]) -> Feats<T> {
        let shape = *x.shape();
        let keep: Vec<f32> = masked
            .iter()
            .flat_map(|&m| std::iter::repeat_n(if m { 0.0 } else { 1.0 }, shape.1))
            .collect();
        let drop: Vec<f32> = keep.iter().map(|k| 1.0 - k).collect();
        let mask = self.param("video.mask_embedding", (shape.1,));
        x * self.constant(keep, shape)
            + mask.broadcast_like::<_, Axis<0>>(&shape) * self.constant(drop, shape)
    }

    /// The temporal encoder over frame features: positions, then one encoder layer.
    pub fn encode_frames(&self, x: Feats<T>) -> Feats<T> {
        let b = x.shape().0 / FRAMES;
        let x = self.add_positions(x, b, FRAMES, "video.position_embedding");
        self.encoder_layer(x, b, FRAMES, "video.layer")
    }

    /// The video encoder: [`VtNet::embed_frames`] then [`VtNet::encode_frames`].
    pub fn encode_video(&self, frames: &[f32]) -> Feats<T> {
        let x = self.embed_frames(frames);
        self.encode_frames(x)
    }

    /// The cross-modal encoder: one encoder layer over each caption's tokens
    /// followed by its clip's frames (with a learned type embedding per
    /// modality). Returns `b * (MAX_TOKENS + FRAMES)` rows; pick rows with
    /// [`cross_text_row`] and [`cross_video_row`] and [`VtNet::gather_rows`].
    ///
    /// (One output, not a text half and a video half: with dfdx the tape
    /// travels with one tensor, and a dropped half would drop it.)
    pub fn cross(&self, text: Feats<T>, video: Feats<T>) -> Feats<T> {
        let b = text.shape().0 / MAX_TOKENS;
        let d = self.width();
        let types = self.param("cross.type_embedding", (2, d));
        let t_type = types.retaped::<T>().slice((0..1, ..)).reshape_like(&(d,));
        let v_type = types.slice((1..2, ..)).reshape_like(&(d,));
        let (ts, vs) = (*text.shape(), *video.shape());
        let text = text + t_type.broadcast_like::<_, Axis<0>>(&ts);
        let video = video + v_type.broadcast_like::<_, Axis<0>>(&vs);
        let t3 = text.reshape_like(&(b, MAX_TOKENS, d));
        let v3 = video.reshape_like(&(b, FRAMES, d));
        let s = CROSS_LEN;
        let joint = (t3, v3).concat_along(Axis::<1>).reshape_like(&(b * s, d));
        self.encoder_layer(joint, b, s, "cross.layer")
    }

    /// Mean of each run of `per` consecutive rows: `(b * per, D) -> (b, D)`.
    pub fn pool(&self, x: Feats<T>, per: usize) -> Feats<T> {
        let (n, d) = *x.shape();
        x.reshape_like(&(n / per, per, d))
            .mean::<(usize, usize), Axis<1>>()
    }

    /// The rows listed in `rows`, in that order.
    pub fn gather_rows(&self, x: Feats<T>, rows: &[usize]) -> Feats<T> {
        let idx = self.dev().tensor_from_vec(rows.to_vec(), (rows.len(),));
        x.gather(idx)
    }

    /// Unit-length rows (an epsilon keeps zero rows finite).
    pub fn l2_normalize(&self, x: Feats<T>) -> Feats<T> {
        let shape = *x.shape();
        let norm = (x.retaped::<T>().square().sum::<(usize,), Axis<1>>() + 1e-6).sqrt();
        x / norm.broadcast_like::<_, Axis<1>>(&shape)
    }

    /// Caption embeddings for retrieval: pooled text encoder, projected, unit length.
    pub fn text_embedding_of(&self, tokens: &[usize]) -> Feats<T> {
        let h = self.pool(self.encode_text(tokens), MAX_TOKENS);
        self.l2_normalize(self.linear(h, "align.text_proj", self.width()))
    }

    /// Clip embeddings for retrieval from video-encoder rows: pooled, projected, unit length.
    pub fn video_embedding_of(&self, video: Feats<T>) -> Feats<T> {
        let h = self.pool(video, FRAMES);
        self.l2_normalize(self.linear(h, "align.video_proj", self.width()))
    }

    /// Clip embeddings for retrieval: [`VtNet::encode_video`] then [`VtNet::video_embedding_of`].
    pub fn video_embedding_of_frames(&self, frames: &[f32]) -> Feats<T> {
        let v = self.encode_video(frames);
        self.video_embedding_of(v)
    }

    /// Masked-token logits over the vocabulary from cross-encoder text rows.
    pub fn mlm_logits(&self, text: Feats<T>) -> Feats<T> {
        self.linear(text, "heads.mlm", VOCAB_SIZE)
    }

    /// Frame-feature predictions from cross-encoder video rows.
    pub fn frame_prediction(&self, video: Feats<T>) -> Feats<T> {
        self.linear(video, "heads.frame", self.width())
    }

    /// Rotation-class logits (0°, 90°, 180°, 270°) from pooled video rows.
    pub fn rotation_logits_of(&self, pooled: Feats<T>) -> Feats<T> {
        self.linear(pooled, "heads.rotation", ROTATIONS)
    }
}

/// The clips of `visual` as this model reads them, or an error naming the mismatch.
fn clips(visual: &Visual) -> Result<&[f32]> {
    use super::world::{CHANNELS, SIDE};
    let want = (FRAMES, CHANNELS, SIDE, SIDE);
    let got = (visual.frames, visual.channels, visual.height, visual.width);
    if got != want {
        return Err(crate::Error::InvalidSetting {
            field: "visual input".into(),
            value: format!("{got:?} (frames, channels, height, width)"),
            reason: format!("the video-text backbone reads clips of {want:?}"),
        });
    }
    Ok(&visual.pixels)
}

/// The captions of `text` as this model reads them, or an error naming the mismatch.
fn tokens(text: &Text) -> Result<&[usize]> {
    if text.len != MAX_TOKENS || text.vocab != VOCAB_SIZE {
        return Err(crate::Error::InvalidSetting {
            field: "captions".into(),
            value: format!("{} tokens over a vocabulary of {}", text.len, text.vocab),
            reason: format!("the video-text backbone reads {MAX_TOKENS} tokens over {VOCAB_SIZE}"),
        });
    }
    Ok(&text.tokens)
}

impl<T: AnyTape> Net<T> for VtNet<'_, T> {
    fn dev(&self) -> &Dev {
        self.p.dev()
    }

    fn provide(&self, r: &mut Request<'_, T>) {
        r.serve::<VisualFeatures>(|v| self.visual_features(v))
            .serve::<TextFeatures>(|t| self.text_features(t))
            .serve::<VisualEmbedding>(|v| self.visual_embedding(v))
            .serve::<TextEmbedding>(|t| self.text_embedding(t));
        if self.config.rotation_head {
            r.serve::<RotationLogits>(|v| self.rotation_logits(v));
        }
        if self.config.mlm_head {
            r.serve::<MaskedTokenLogits>(|(m, v, p)| self.masked_token_logits(m, v, p));
        }
        if self.config.frame_head {
            r.serve::<MaskedFramePrediction>(|(t, v, m)| self.masked_frame_prediction(t, v, m));
        }
    }
}

/// The parts, each at its own method.
impl<T: Tape<f32, Dev>> VtNet<'_, T> {
    fn visual_features(&self, visual: &Visual) -> Result<Feats<T>> {
        Ok(self.pool(self.encode_video(clips(visual)?), FRAMES))
    }

    fn text_features(&self, text: &Text) -> Result<Feats<T>> {
        Ok(self.pool(self.encode_text(tokens(text)?), MAX_TOKENS))
    }

    fn visual_embedding(&self, visual: &Visual) -> Result<Feats<T>> {
        Ok(self.video_embedding_of_frames(clips(visual)?))
    }

    fn text_embedding(&self, text: &Text) -> Result<Feats<T>> {
        Ok(self.text_embedding_of(tokens(text)?))
    }

    fn rotation_logits(&self, visual: &Visual) -> Result<Feats<T>> {
        let pooled = self.pool(self.encode_video(clips(visual)?), FRAMES);
        Ok(self.rotation_logits_of(pooled))
    }

    fn masked_token_logits(
        &self,
        masked: &Text,
        visual: &Visual,
        positions: &[usize],
    ) -> Result<Feats<T>> {
        let text = self.encode_text(tokens(masked)?);
        let video = self.encode_video(clips(visual)?);
        let joint = self.cross(text, video);
        let rows: Vec<usize> = positions
            .iter()
            .map(|r| cross_text_row(r / MAX_TOKENS, r % MAX_TOKENS))
            .collect();
        Ok(self.mlm_logits(self.gather_rows(joint, &rows)))
    }

    fn masked_frame_prediction(
        &self,
        text: &Text,
        visual: &Visual,
        masked: &[bool],
    ) -> Result<(Feats<T>, Feats<Free>)> {
        let frames = clips(visual)?;
        let rows: Vec<usize> = (0..masked.len()).filter(|&i| masked[i]).collect();
        let targets = self.detached().embed_frames(frames);
        let targets = self.detached().gather_rows(targets, &rows);
        let x = self.mask_frames(self.embed_frames(frames), masked);
        let video = self.encode_frames(x);
        let text = self.encode_text(tokens(text)?);
        let joint = self.cross(text, video);
        let cross_rows: Vec<usize> = rows
            .iter()
            .map(|r| cross_video_row(r / FRAMES, r % FRAMES))
            .collect();
        let pred = self.frame_prediction(self.gather_rows(joint, &cross_rows));
        Ok((pred, targets))
    }
}
