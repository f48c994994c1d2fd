//! `VtNet`: the video-text backbone's forward pass at one parameter
//! vector, with or without a gradient tape, and its parts as a
//! [`crate::backbone::Net`].
//!
//! A taped tensor carries its tape; to use a tensor twice, take
//! `x.retaped::<T>()` for the extra uses and keep the original (the one
//! holding the tape) in the result — dropping it drops the gradient of
//! everything before it.
//!
//! Tokens travel as row matrices `(rows, D_MODEL)`: a text batch of `b`
//! captions is `b * MAX_TOKENS` rows, a video batch `b * FRAMES` rows,
//! example-major. Each transformer layer is post-norm, as PyTorch's
//! `nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward,
//! dropout=0, batch_first=True)`: `x = LN1(x + MHA(x)); x = LN2(x + FF(x))`.

use super::world::{FRAMES, FRAME_LEN, MAX_TOKENS, VOCAB_SIZE};
use super::BackboneConfig;
use super::{VideoText, D_MODEL, FF_WIDTH, HEADS, ROTATIONS};
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

/// Row vectors of width `N`.
pub type Rows<T, const N: usize = D_MODEL> = Tensor<(usize, Const<N>), f32, Dev, T>;

const HEAD_DIM: usize = D_MODEL / HEADS;

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
    /// Which optional heads the model has (the parts it serves).
    heads: BackboneConfig,
}

impl<'m> VtNet<'m, Taped> {
    /// A taped net at `w`.
    pub fn taped(model: &'m VideoText, w: &ParamVec) -> Self {
        VtNet {
            p: FlatParams::taped(model.layout_ref(), model.indices(), w),
            heads: *model.settings(),
        }
    }
}

impl<'m> VtNet<'m, Free> {
    /// A tape-free net at `w`.
    pub fn free(model: &'m VideoText, w: &ParamVec) -> Self {
        VtNet {
            p: FlatParams::free(model.layout_ref(), model.indices(), w),
            heads: *model.settings(),
        }
    }
}

impl TapedNet for VtNet<'_, Taped> {
    fn gradient(&self, loss: Loss<Taped>) -> ParamVec {
        self.p.gradient(loss)
    }
}

/// `(rows, N)` with a compile-time width as `(rows, cols)` with a run-time one.
fn feats<T: Tape<f32, Dev>, const N: usize>(x: Rows<T, N>) -> Feats<T> {
    let n = x.shape().0;
    x.reshape_like(&(n, N))
}

impl<'m, T: Tape<f32, Dev>> VtNet<'m, T> {
    /// A tape-free copy of this net (same parameters): its outputs are
    /// constants here, e.g. regression or contrastive targets.
    pub fn detached(&self) -> VtNet<'m, Free> {
        VtNet {
            p: self.p.detached(),
            heads: self.heads,
        }
    }

    /// The device.
    pub fn dev(&self) -> &Dev {
        self.p.dev()
    }

    /// The parameter block `name`, as a tensor of shape `S` on this net's tape.
    pub fn param<S: ConstShape>(&self, name: &str) -> Tensor<S, f32, Dev, T> {
        self.p.param(name)
    }

    /// A constant (untracked) tensor made of host values.
    pub fn constant<S: Shape>(&self, values: Vec<f32>, shape: S) -> Tensor<S, f32, Dev> {
        self.dev().tensor_from_vec(values, shape)
    }

    /// `x Wᵀ + b` with the `name.weight` (`O x I`) and `name.bias` blocks.
    pub fn linear<const I: usize, const O: usize>(&self, x: Rows<T, I>, name: &str) -> Rows<T, O> {
        let w: Tensor<Rank2<O, I>, f32, Dev, T> = self.param(&format!("{name}.weight"));
        let b: Tensor<Rank1<O>, f32, Dev, T> = self.param(&format!("{name}.bias"));
        let xw = x.matmul(w.permute());
        #[cfg(not(feature = "cuda"))]
        {
            crate::tensor::fused::add_bias(xw, b)
        }
        #[cfg(feature = "cuda")]
        {
            let n = xw.shape().0;
            xw + b.broadcast_like(&(n, Const::<O>))
        }
    }

    /// Layer normalisation over the feature axis (eps 1e-5), `name.weight`/`name.bias`.
    pub fn layer_norm(&self, x: Rows<T>, name: &str) -> Rows<T> {
        let g: Tensor<Rank1<D_MODEL>, f32, Dev, T> = self.param(&format!("{name}.weight"));
        let b: Tensor<Rank1<D_MODEL>, f32, Dev, T> = self.param(&format!("{name}.bias"));
        #[cfg(not(feature = "cuda"))]
        {
            crate::tensor::fused::layer_norm(x, g, b, 1e-5)
        }
        #[cfg(feature = "cuda")]
        {
            let shape = *x.shape();
            x.normalize::<Axis<1>>(1e-5) * g.broadcast_like(&shape) + b.broadcast_like(&shape)
        }
    }

    /// Multi-head self-attention over `b` sequences of `s` rows each.
    pub fn self_attention(&self, x: Rows<T>, b: usize, s: usize, name: &str) -> Rows<T> {
        let xk = x.retaped::<T>();
        let xv = x.retaped::<T>();
        let heads = (b, s, Const::<HEADS>, Const::<HEAD_DIM>);
        let q = self
            .linear::<D_MODEL, D_MODEL>(x, &format!("{name}.q"))
            .reshape_like(&heads)
            .permute::<_, Axes4<0, 2, 1, 3>>();
        let k = self
            .linear::<D_MODEL, D_MODEL>(xk, &format!("{name}.k"))
            .reshape_like(&heads)
            .permute::<_, Axes4<0, 2, 3, 1>>();
        let v = self
            .linear::<D_MODEL, D_MODEL>(xv, &format!("{name}.v"))
            .reshape_like(&heads)
            .permute::<_, Axes4<0, 2, 1, 3>>();
        let scale = 1.0 / (HEAD_DIM as f32).sqrt();
        #[cfg(not(feature = "cuda"))]
        let att = crate::tensor::fused::scaled_softmax(q.matmul(k), scale);
        #[cfg(feature = "cuda")]
        let att = (q.matmul(k) * scale).softmax::<Axis<3>>();
        let out = att
            .matmul(v)
            .permute::<_, Axes4<0, 2, 1, 3>>()
            .reshape_like(&(b * s, Const::<D_MODEL>));
        self.linear::<D_MODEL, D_MODEL>(out, &format!("{name}.out"))
    }

    /// One post-norm transformer encoder layer over `b` sequences of `s` rows.
    pub fn encoder_layer(&self, x: Rows<T>, b: usize, s: usize, name: &str) -> Rows<T> {
        let res = x.retaped::<T>();
        let a = self.self_attention(x, b, s, &format!("{name}.attn"));
        let x = self.layer_norm(res + a, &format!("{name}.norm1"));
        let res = x.retaped::<T>();
        let h = self
            .linear::<D_MODEL, FF_WIDTH>(x, &format!("{name}.ff1"))
            .relu();
        let h = self.linear::<FF_WIDTH, D_MODEL>(h, &format!("{name}.ff2"));
        self.layer_norm(res + h, &format!("{name}.norm2"))
    }

    /// Adds a `(S, D)` position table to `b` sequences of `S` rows.
    fn add_positions<const S: usize>(&self, x: Rows<T>, b: usize, name: &str) -> Rows<T> {
        let pos: Tensor<Rank2<S, D_MODEL>, f32, Dev, T> = self.param(name);
        let pos = pos
            .broadcast_like(&(b, Const::<S>, Const::<D_MODEL>))
            .reshape_like(&(b * S, Const::<D_MODEL>));
        x + pos
    }

    /// Token + position embeddings of captions (`b * MAX_TOKENS` ids).
    pub fn embed_text(&self, tokens: &[usize]) -> Rows<T> {
        let b = tokens.len() / MAX_TOKENS;
        let idx = self.dev().tensor_from_vec(tokens.to_vec(), (tokens.len(),));
        let table: Tensor<Rank2<VOCAB_SIZE, D_MODEL>, f32, Dev, T> =
            self.param("text.token_embedding");
        let x: Rows<T> = table.gather(idx);
        self.add_positions::<MAX_TOKENS>(x, b, "text.position_embedding")
    }

    /// The text encoder: embeddings, then one encoder layer.
    pub fn encode_text(&self, tokens: &[usize]) -> Rows<T> {
        let b = tokens.len() / MAX_TOKENS;
        let x = self.embed_text(tokens);
        self.encoder_layer(x, b, MAX_TOKENS, "text.layer")
    }

    /// Per-frame features (`b * FRAMES` rows) of clips (`b * CLIP_LEN` pixels):
    /// a linear map of each centred frame.
    pub fn embed_frames(&self, frames: &[f32]) -> Rows<T> {
        let n = frames.len() / FRAME_LEN;
        let x = self.constant(frames.to_vec(), (n, Const::<FRAME_LEN>)) - 0.5;
        self.linear::<FRAME_LEN, D_MODEL>(x.retaped::<T>(), "video.frame_embedding")
    }

    /// Replaces the features of frames where `masked[i]` by the learned mask vector.
    pub fn mask_frames(&self, x: Rows<T>, masked: &[bool]) -> Rows<T> {
        let shape = *x.shape();
        let keep: Vec<f32> = masked
            .iter()
            .flat_map(|&m| std::iter::repeat(if m { 0.0 } else { 1.0 }).take(D_MODEL))
            .collect();
        let drop: Vec<f32> = keep.iter().map(|k| 1.0 - k).collect();
        let mask: Tensor<Rank1<D_MODEL>, f32, Dev, T> = self.param("video.mask_embedding");
        x * self.constant(keep, shape) + mask.broadcast_like(&shape) * self.constant(drop, shape)
    }

    /// The temporal encoder over frame features: positions, then one encoder layer.
    pub fn encode_frames(&self, x: Rows<T>) -> Rows<T> {
        let b = x.shape().0 / FRAMES;
        let x = self.add_positions::<FRAMES>(x, b, "video.position_embedding");
        self.encoder_layer(x, b, FRAMES, "video.layer")
    }

    /// The video encoder: [`VtNet::embed_frames`] then [`VtNet::encode_frames`].
    pub fn encode_video(&self, frames: &[f32]) -> Rows<T> {
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
    pub fn cross(&self, text: Rows<T>, video: Rows<T>) -> Rows<T> {
        let b = text.shape().0 / MAX_TOKENS;
        let types: Tensor<Rank2<2, D_MODEL>, f32, Dev, T> = self.param("cross.type_embedding");
        let t_type = types
            .retaped::<T>()
            .slice((0..1, ..))
            .reshape_like(&(Const::<D_MODEL>,));
        let v_type = types.slice((1..2, ..)).reshape_like(&(Const::<D_MODEL>,));
        let (ts, vs) = (*text.shape(), *video.shape());
        let text = text + t_type.broadcast_like(&ts);
        let video = video + v_type.broadcast_like(&vs);
        let t3 = text.reshape_like(&(b, MAX_TOKENS, Const::<D_MODEL>));
        let v3 = video.reshape_like(&(b, FRAMES, Const::<D_MODEL>));
        let s = CROSS_LEN;
        let joint = (t3, v3)
            .concat_along(Axis::<1>)
            .reshape_like(&(b * s, Const::<D_MODEL>));
        self.encoder_layer(joint, b, s, "cross.layer")
    }

    /// Mean of each run of `per` consecutive rows: `(b * per, D) -> (b, D)`.
    pub fn pool(&self, x: Rows<T>, per: usize) -> Rows<T> {
        let b = x.shape().0 / per;
        x.reshape_like(&(b, per, Const::<D_MODEL>))
            .mean::<_, Axis<1>>()
    }

    /// The rows listed in `rows`, in that order.
    pub fn gather_rows(&self, x: Rows<T>, rows: &[usize]) -> Rows<T> {
        let idx = self.dev().tensor_from_vec(rows.to_vec(), (rows.len(),));
        x.gather(idx)
    }

    /// Unit-length rows (an epsilon keeps zero rows finite).
    pub fn l2_normalize(&self, x: Rows<T>) -> Rows<T> {
        let shape = *x.shape();
        let norm = (x.retaped::<T>().square().sum::<_, Axis<1>>() + 1e-6).sqrt();
        x / norm.broadcast_like(&shape)
    }

    /// Caption embeddings for retrieval: pooled text encoder, projected, unit length.
    pub fn text_embedding_of(&self, tokens: &[usize]) -> Rows<T> {
        let h = self.pool(self.encode_text(tokens), MAX_TOKENS);
        self.l2_normalize(self.linear::<D_MODEL, D_MODEL>(h, "align.text_proj"))
    }

    /// Clip embeddings for retrieval from video-encoder rows: pooled, projected, unit length.
    pub fn video_embedding_of(&self, video: Rows<T>) -> Rows<T> {
        let h = self.pool(video, FRAMES);
        self.l2_normalize(self.linear::<D_MODEL, D_MODEL>(h, "align.video_proj"))
    }

    /// Clip embeddings for retrieval: [`VtNet::encode_video`] then [`VtNet::video_embedding_of`].
    pub fn video_embedding_of_frames(&self, frames: &[f32]) -> Rows<T> {
        let v = self.encode_video(frames);
        self.video_embedding_of(v)
    }

    /// Masked-token logits over the vocabulary from cross-encoder text rows.
    pub fn mlm_logits(&self, text: Rows<T>) -> Rows<T, VOCAB_SIZE> {
        self.linear::<D_MODEL, VOCAB_SIZE>(text, "heads.mlm")
    }

    /// Frame-feature predictions from cross-encoder video rows.
    pub fn frame_prediction(&self, video: Rows<T>) -> Rows<T> {
        self.linear::<D_MODEL, D_MODEL>(video, "heads.frame")
    }

    /// Rotation-class logits (0°, 90°, 180°, 270°) from pooled video rows.
    pub fn rotation_logits_of(&self, pooled: Rows<T>) -> Rows<T, ROTATIONS> {
        self.linear::<D_MODEL, ROTATIONS>(pooled, "heads.rotation")
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
        if self.heads.rotation_head {
            r.serve::<RotationLogits>(|v| self.rotation_logits(v));
        }
        if self.heads.mlm_head {
            r.serve::<MaskedTokenLogits>(|(m, v, p)| self.masked_token_logits(m, v, p));
        }
        if self.heads.frame_head {
            r.serve::<MaskedFramePrediction>(|(t, v, m)| self.masked_frame_prediction(t, v, m));
        }
    }
}

/// The parts, each at its own method.
impl<T: Tape<f32, Dev>> VtNet<'_, T> {
    fn visual_features(&self, visual: &Visual) -> Result<Feats<T>> {
        Ok(feats(self.pool(self.encode_video(clips(visual)?), FRAMES)))
    }

    fn text_features(&self, text: &Text) -> Result<Feats<T>> {
        Ok(feats(
            self.pool(self.encode_text(tokens(text)?), MAX_TOKENS),
        ))
    }

    fn visual_embedding(&self, visual: &Visual) -> Result<Feats<T>> {
        Ok(feats(self.video_embedding_of_frames(clips(visual)?)))
    }

    fn text_embedding(&self, text: &Text) -> Result<Feats<T>> {
        Ok(feats(self.text_embedding_of(tokens(text)?)))
    }

    fn rotation_logits(&self, visual: &Visual) -> Result<Feats<T>> {
        let pooled = self.pool(self.encode_video(clips(visual)?), FRAMES);
        Ok(feats(self.rotation_logits_of(pooled)))
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
        Ok(feats(self.mlm_logits(self.gather_rows(joint, &rows))))
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
        Ok((feats(pred), feats(targets)))
    }
}
