//! `ResNetNet`: the image backbone's forward pass at one parameter vector,
//! with or without a gradient tape, and its parts as a [`Net`].
//!
//! Activations are channel-last rows: a batch of `b` images is `b * 64`
//! rows (image, then pixel row-major) of `channels` values. A 3x3
//! convolution with padding 1 is an im2col: every pixel's nine taps are
//! gathered side by side into a `(b * 64, 9 * c)` matrix (taps outside the
//! image read zeros; the table is [`super::model::im2col_rows`]) and
//! multiplied by the weight. The CPU build gathers and multiplies in one
//! op, [`crate::tensor::fused::im2col_matmul`], which keeps no column
//! matrix for the backward; under `cuda`, dfdx's `gather` reads a zero row
//! appended to the input. (dfdx 0.13's own `conv2d` needs its nightly
//! feature.)
//!
//! A taped tensor carries its tape; to use a tensor twice, take
//! `x.retaped::<T>()` for the extra use and keep the original in the result.

use super::model::ImageResNet;
use super::{PIXELS, SIDE};
use crate::backbone::parts::{ClassLogits, MaskedPixelPrediction, RotationLogits, VisualFeatures};
use crate::backbone::{
    AnyTape, Feats, FlatParams, Free, Loss, Net, Request, Taped, TapedNet, Visual,
};
use crate::error::{Error, Result};
use crate::tensor::Dev;
use crate::tensor::ParamVec;
use dfdx::prelude::*;

/// Subtracted from every pixel value (in `[0, 1]`) before the stem, so
/// that the zero padding of the convolutions differs from the images'
/// background.
pub const INPUT_SHIFT: f32 = 0.5;

/// The backbone's forward pass at one parameter vector; see the module docs.
pub struct ResNetNet<'m, T> {
    model: &'m ImageResNet,
    p: FlatParams<'m, T>,
}

impl<'m> ResNetNet<'m, Taped> {
    /// A taped net at `w`.
    pub fn taped(model: &'m ImageResNet, w: &ParamVec) -> Self {
        ResNetNet {
            model,
            p: FlatParams::taped(model.layout_ref(), model.indices(), w),
        }
    }
}

impl<'m> ResNetNet<'m, Free> {
    /// A tape-free net at `w`.
    pub fn free(model: &'m ImageResNet, w: &ParamVec) -> Self {
        ResNetNet {
            model,
            p: FlatParams::free(model.layout_ref(), model.indices(), w),
        }
    }
}

impl TapedNet for ResNetNet<'_, Taped> {
    fn gradient(&self, loss: Loss<Taped>) -> ParamVec {
        self.p.gradient(loss)
    }
}

/// The images of `visual` as this model reads them (`b * 64` values), or
/// an error naming the mismatch.
pub fn images(visual: &Visual) -> Result<&[f32]> {
    let want = (1, 1, SIDE, SIDE);
    let got = (visual.frames, visual.channels, visual.height, visual.width);
    if got != want {
        return Err(Error::InvalidSetting {
            field: "visual input".into(),
            value: format!("{got:?} (frames, channels, height, width)"),
            reason: format!("the image ResNet reads images of {want:?}"),
        });
    }
    let n = visual.pixels.len();
    if n == 0 || n % PIXELS != 0 {
        return Err(Error::InvalidSetting {
            field: "visual input".into(),
            value: format!("{n} pixel values"),
            reason: format!("expected one or more images of {PIXELS} values"),
        });
    }
    Ok(&visual.pixels)
}

impl<'m, T: Tape<f32, Dev>> ResNetNet<'m, T> {
    /// The device.
    pub fn dev(&self) -> &Dev {
        self.p.dev()
    }

    /// The shape of parameter block `name`. Panics if there is none (a
    /// programming error of the backbone).
    fn shape(&self, name: &str) -> &[usize] {
        &self
            .model
            .layout_ref()
            .get(name)
            .unwrap_or_else(|| panic!("backbone has no parameter `{name}`"))
            .block
            .shape
    }

    /// Adds the `(o,)` bias block `name` to every row of `x`.
    fn add_bias(&self, x: Feats<T>, name: &str) -> Feats<T> {
        let shape = *x.shape();
        let b = self.p.param_shaped(name, (shape.1,));
        #[cfg(not(feature = "cuda"))]
        {
            crate::tensor::fused::add_bias(x, b)
        }
        #[cfg(feature = "cuda")]
        {
            x + b.broadcast_like::<_, Axis<0>>(&shape)
        }
    }

    /// `x Wᵀ + b` with the `name.weight` (`o x i`, or `o x i x 1 x 1`, a
    /// 1x1 convolution) and `name.bias` blocks.
    pub fn linear(&self, x: Feats<T>, name: &str) -> Feats<T> {
        let wname = format!("{name}.weight");
        let (o, i) = {
            let s = self.shape(&wname);
            (s[0], s[1])
        };
        let w = self.p.param_shaped(&wname, (o, i));
        self.add_bias(x.matmul(w.permute()), &format!("{name}.bias"))
    }

    /// The im2col of channel-last rows `x` (`b * 64` rows of `c`):
    /// `(b * 64, 9 * c)`, columns ordered `(tap, channel)` with taps
    /// row-major over the 3x3 window.
    pub fn im2col(&self, x: Feats<T>) -> Feats<T> {
        let n = x.shape().0;
        let table = self.model.im2col_table(n / PIXELS);
        #[cfg(not(feature = "cuda"))]
        {
            crate::tensor::fused::im2col(x, table, 9)
        }
        #[cfg(feature = "cuda")]
        {
            let c = x.shape().1;
            let zero: Tensor<(usize, usize), f32, Dev> = self.dev().zeros_like(&(1, c));
            let padded = (x, zero).concat_along(Axis::<0>);
            let taps: Feats<T> = padded.gather(table);
            taps.reshape_like(&(n, 9 * c))
        }
    }

    /// A 3x3 convolution, padding 1, of channel-last rows `x` with the
    /// `name.weight` (`o x c x 3 x 3`) and `name.bias` blocks.
    pub fn conv3x3(&self, x: Feats<T>, name: &str) -> Feats<T> {
        let wname = format!("{name}.weight");
        let (o, c) = {
            let s = self.shape(&wname);
            (s[0], s[1])
        };
        // (o, c, 9) -> (o, 9, c) -> (o, 9c): the im2col's column order.
        let w = self
            .p
            .param_shaped(&wname, (o, c, 9))
            .permute::<_, Axes3<0, 2, 1>>()
            .reshape_like(&(o, 9 * c));
        // The CPU build's one op keeps no column matrix for the backward.
        #[cfg(not(feature = "cuda"))]
        let y = {
            let table = self.model.im2col_table(x.shape().0 / PIXELS);
            crate::tensor::fused::im2col_matmul(x, table, 9, w)
        };
        #[cfg(feature = "cuda")]
        let y = self.im2col(x).matmul(w.permute());
        self.add_bias(y, &format!("{name}.bias"))
    }

    /// One residual block: `relu(x + conv2(relu(conv1(x))))`.
    pub fn residual_block(&self, x: Feats<T>, name: &str) -> Feats<T> {
        let skip = x.retaped::<T>();
        let h = self.conv3x3(x, &format!("{name}.conv1")).relu();
        let h = self.conv3x3(h, &format!("{name}.conv2"));
        (skip + h).relu()
    }

    /// The last feature map (`b * 64` rows of `width`) of input rows `x`
    /// (`b * 64` rows of one channel).
    pub fn feature_map(&self, x: Feats<T>) -> Feats<T> {
        let mut h = self.conv3x3(x, "stem.conv").relu();
        for b in 0..self.model.settings().blocks {
            h = self.residual_block(h, &format!("blocks.{b}"));
        }
        h
    }

    /// Input rows (`b * 64` rows of one channel) from images (`b * 64`
    /// values): each value minus [`INPUT_SHIFT`].
    pub fn input(&self, pixels: &[f32]) -> Feats<T> {
        let n = pixels.len();
        let x = pixels.iter().map(|p| p - INPUT_SHIFT).collect();
        self.dev().tensor_from_vec(x, (n, 1)).retaped::<T>()
    }

    /// [`ResNetNet::input`] with the pixels where `masked` replaced by the
    /// learned `pixels.mask_value`.
    pub fn masked_input(&self, pixels: &[f32], masked: &[bool]) -> Feats<T> {
        let n = pixels.len();
        let kept: Vec<f32> = pixels
            .iter()
            .zip(masked)
            .map(|(&p, &m)| if m { 0.0 } else { p - INPUT_SHIFT })
            .collect();
        let hidden: Vec<f32> = masked.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect();
        let shape = (n, 1);
        let value = self.p.param_shaped("pixels.mask_value", (1,));
        let fill =
            value.broadcast_like::<_, Axis<0>>(&shape) * self.dev().tensor_from_vec(hidden, shape);
        fill + self.dev().tensor_from_vec(kept, shape)
    }

    /// Global average pool: `(b * 64, w) -> (b, w)`.
    pub fn pool(&self, x: Feats<T>) -> Feats<T> {
        let (n, w) = *x.shape();
        x.reshape_like(&(n / PIXELS, PIXELS, w))
            .mean::<(usize, usize), Axis<1>>()
    }

    /// Pooled features `(b, width)` of images (`b * 64` values).
    pub fn features(&self, pixels: &[f32]) -> Feats<T> {
        self.pool(self.feature_map(self.input(pixels)))
    }
}

impl<T: AnyTape> Net<T> for ResNetNet<'_, T> {
    fn dev(&self) -> &Dev {
        self.p.dev()
    }

    fn provide(&self, r: &mut Request<'_, T>) {
        r.serve::<VisualFeatures>(|v| Ok(self.features(images(v)?)));
        let heads = self.model.settings();
        if heads.classifier {
            r.serve::<ClassLogits>(|v| Ok(self.linear(self.features(images(v)?), "heads.class")));
        }
        if heads.rotation_head {
            r.serve::<RotationLogits>(|v| {
                Ok(self.linear(self.features(images(v)?), "heads.rotation"))
            });
        }
        if heads.pixel_head {
            r.serve::<MaskedPixelPrediction>(|(v, m)| self.masked_pixel_prediction(v, m));
        }
    }
}

impl<T: Tape<f32, Dev>> ResNetNet<'_, T> {
    /// [`MaskedPixelPrediction`]: every pixel predicted with the masked ones hidden.
    fn masked_pixel_prediction(&self, visual: &Visual, masked: &[bool]) -> Result<Feats<T>> {
        let pixels = images(visual)?;
        if masked.len() != pixels.len() {
            return Err(Error::Length {
                what: "pixel mask".into(),
                expected: pixels.len(),
                found: masked.len(),
            });
        }
        let h = self.feature_map(self.masked_input(pixels, masked));
        let out = self.linear(h, "heads.pixel");
        Ok(out.reshape_like(&(pixels.len() / PIXELS, PIXELS)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::{im2col_rows, ResNetConfig};
    use super::super::{DigitsData, CLASSES};
    use super::*;
    use crate::backbone::Backbone;
    use crate::dataset::{Dataset, Split};
    use rand::{Rng, SeedableRng};

    fn small(blocks: usize, seed: u64) -> ImageResNet {
        ImageResNet::new(
            ResNetConfig {
                width: 3,
                blocks,
                ..Default::default()
            },
            seed,
        )
        .unwrap()
    }

    /// A 3x3, padding-1 convolution of `b` channel-last images, by loops.
    fn naive_conv(x: &[f32], b: usize, c: usize, w: &[f32], bias: &[f32]) -> Vec<f32> {
        let o = bias.len();
        let s = SIDE as isize;
        let mut out = vec![0.0f32; b * PIXELS * o];
        for i in 0..b {
            for y in 0..s {
                for xx in 0..s {
                    for oc in 0..o {
                        let mut acc = bias[oc];
                        for ic in 0..c {
                            for ky in 0..3isize {
                                for kx in 0..3isize {
                                    let (sy, sx) = (y + ky - 1, xx + kx - 1);
                                    if !(0..s).contains(&sy) || !(0..s).contains(&sx) {
                                        continue;
                                    }
                                    let row = i * PIXELS + (sy * s + sx) as usize;
                                    let wi = ((oc * c + ic) * 3 + ky as usize) * 3 + kx as usize;
                                    acc += w[wi] * x[row * c + ic];
                                }
                            }
                        }
                        out[(i * PIXELS + (y * s + xx) as usize) * o + oc] = acc;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn im2col_convolution_agrees_with_a_loop() {
        let m = small(1, 7);
        let net = m.net();
        let (b, c) = (2, 3);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let x: Vec<f32> = (0..b * PIXELS * c)
            .map(|_| rng.gen_range(-1.0..1.0))
            .collect();
        let flat = m.params().to_vec();
        let block = |name: &str| {
            let p = m.layout().get(name).unwrap();
            flat[p.offset..p.offset + p.block.len()].to_vec()
        };
        let (w, bias) = (block("blocks.0.conv1.weight"), block("blocks.0.conv1.bias"));
        // Non-zero biases, so that they are checked too.
        let bias: Vec<f32> = bias.iter().enumerate().map(|(i, v)| v + i as f32).collect();
        let mut flat2 = flat.clone();
        let off = m.layout().get("blocks.0.conv1.bias").unwrap().offset;
        flat2[off..off + bias.len()].copy_from_slice(&bias);
        let w2 = ParamVec::from_vec(m.dev(), flat2);
        let net2 = ResNetNet::free(&m, &w2);
        let input = net.dev().tensor_from_vec(x.clone(), (b * PIXELS, c));
        let got = net2.conv3x3(input, "blocks.0.conv1").as_vec();
        let want = naive_conv(&x, b, c, &w, &bias);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "{g} vs {w}");
        }
        // The corner pixel reads 4 in-image taps, an inner one 9.
        let rows = im2col_rows(1);
        assert_eq!(rows[..9].iter().filter(|&&r| r < PIXELS).count(), 4);
        let inner = (SIDE + 1) * 9;
        assert!(rows[inner..inner + 9].iter().all(|&r| r < PIXELS));
    }

    #[test]
    fn the_gradient_matches_a_central_difference() {
        let m = small(2, 3);
        let data = DigitsData::new().unwrap();
        let batch = data.batch(Split::Train, &[0, 11, 27, 42]);
        let visual = batch.visual().unwrap();
        let labels = batch.labels().unwrap();
        let mut onehot = vec![0.0f32; 4 * CLASSES];
        for (i, &c) in labels.ids.iter().enumerate() {
            onehot[i * CLASSES + c] = 1.0;
        }
        fn loss<T: AnyTape>(net: &dyn Net<T>, v: &Visual, target: &[f32]) -> Loss<T> {
            let logits = net.part::<ClassLogits>(v).unwrap();
            let shape = *logits.shape();
            let t = net.dev().tensor_from_vec(target.to_vec(), shape);
            cross_entropy_with_logits_loss(logits, t)
        }
        let w = m.params();
        let net = m.net_taped(w);
        let g = net.gradient(loss(&*net, visual, &onehot));
        assert!(g.is_finite() && g.norm() > 0.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let v: Vec<f32> = (0..w.len()).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let v = ParamVec::from_vec(m.dev(), v);
        let exact = g.dot(&v) as f64;
        let at = |w: &ParamVec| loss(&*m.net_free(w), visual, &onehot).array() as f64;
        let (fd, rel) = [1e-2f32, 3e-3, 1e-3]
            .into_iter()
            .map(|eps| {
                let fd =
                    (at(&w.add_scaled(eps, &v)) - at(&w.add_scaled(-eps, &v))) / (2.0 * eps as f64);
                (fd, (fd - exact).abs() / exact.abs().max(1e-6))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert!(
            rel < 1e-2,
            "central difference {fd}, gradient {exact} ({rel:.4} rel)"
        );
    }

    #[test]
    fn the_masked_pixel_gradient_reaches_the_mask_value_and_the_stem() {
        let m = small(1, 4);
        let data = DigitsData::new().unwrap();
        let batch = data.pretrain_batch(0, 2);
        let v = batch.visual().unwrap();
        let masked: Vec<bool> = (0..v.pixels.len()).map(|i| i % 5 == 0).collect();
        let net = m.net_taped(m.params());
        let pred = net.part::<MaskedPixelPrediction>((v, &masked)).unwrap();
        assert_eq!(*pred.shape(), (2, PIXELS));
        let g = net.gradient(pred.square().sum()).to_vec();
        for name in [
            "pixels.mask_value",
            "stem.conv.weight",
            "heads.pixel.weight",
        ] {
            let p = m.layout().get(name).unwrap();
            assert!(
                g[p.offset..p.offset + p.block.len()]
                    .iter()
                    .any(|&x| x != 0.0),
                "{name}"
            );
        }
        let e = net
            .part::<MaskedPixelPrediction>((v, &masked[1..].to_vec()))
            .err()
            .unwrap();
        assert!(e.to_string().contains("pixel mask"), "{e}");
    }

    #[test]
    fn visual_input_of_the_wrong_shape_is_refused() {
        let m = small(0, 0);
        let v = Visual {
            pixels: vec![0.0; 2 * 3 * 16 * 16],
            frames: 2,
            channels: 3,
            height: 16,
            width: 16,
        };
        let net = m.net();
        let net: &dyn Net<Free> = &net;
        let e = net.part::<VisualFeatures>(&v).err().unwrap().to_string();
        assert!(
            e.contains("(2, 3, 16, 16)") && e.contains("(1, 1, 8, 8)"),
            "{e}"
        );
        let f = net
            .part::<RotationLogits>(&Visual {
                pixels: vec![0.0; 2 * PIXELS],
                frames: 1,
                channels: 1,
                height: SIDE,
                width: SIDE,
            })
            .unwrap();
        assert_eq!(*f.shape(), (2, 4));
    }
}
