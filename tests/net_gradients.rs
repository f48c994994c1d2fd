//! The backbone's forward pieces differentiate correctly: for several
//! scalar functions of the net, the gradient agrees with a central
//! difference of the function along a random direction restricted to a
//! parameter block (f32; best of steps 1e-2, 1e-3, 1e-4 ·‖w‖/‖v‖; 3 % tolerance),
//! at the default width and at another (the shapes follow the setting).

use dfdx::prelude::*;
use meltr::backbone::{Backbone, Batch, Feats, Free, Loss, Taped, TapedNet};
use meltr::domains::video_text::world::{World, MAX_TOKENS};
use meltr::domains::video_text::{BackboneConfig, VideoText, VtNet};
use meltr::tensor::{Dev, ParamVec};
use rand::{Rng, SeedableRng};

type F = fn(&VtNet<'_, Taped>, &Batch) -> Loss<Taped>;
type G = fn(&VtNet<'_, Free>, &Batch) -> Loss<Free>;

fn weights<T: Tape<f32, Dev>>(net: &VtNet<'_, T>, rows: usize) -> Feats<Free> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let d = net.width();
    net.constant(
        (0..rows * d).map(|_| rng.gen_range(-1.0..1.0)).collect(),
        (rows, d),
    )
}

fn check(width: usize, what: &str, block: &str, f: F, g: G) {
    let config = BackboneConfig {
        width,
        ..Default::default()
    };
    let model = VideoText::new(config, 5);
    let batch = World::new(2).pretrain_batch(1, 4);
    let net = VtNet::taped(&model, model.params());
    let grad = net.gradient(f(&net, &batch));
    let p = model.layout().get(block).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut v = vec![0.0f32; model.layout().num_params()];
    for x in &mut v[p.offset..p.offset + p.block.len()] {
        *x = rng.gen_range(-1.0..1.0);
    }
    let v = ParamVec::from_vec(model.dev(), v);
    let exact = grad.dot(&v) as f64;
    let w = model.params();
    let at = |s: f32| g(&VtNet::free(&model, &w.add_scaled(s, &v)), &batch).array() as f64;
    // The best of three steps: f32 round-off spoils small steps, curvature
    // large ones; a wrong gradient disagrees at every step.
    let (fd, rel) = [1e-2f32, 1e-3, 1e-4]
        .into_iter()
        .map(|k| {
            let eps = k * w.norm() / v.norm();
            let fd = (at(eps) - at(-eps)) / (2.0 * eps as f64);
            (fd, (fd - exact).abs() / exact.abs().max(1e-6))
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    println!(
        "width {width} {what:<28} along {block:<32} fd {fd:12.6} grad {exact:12.6} rel {rel:.2e}"
    );
    assert!(
        rel < 0.03,
        "width {width}: {what}: along {block}: fd {fd} vs gradient {exact}"
    );
}

macro_rules! both {
    ($body:expr) => {
        (
            (|net: &VtNet<'_, Taped>, b: &Batch| $body(net, b)) as F,
            (|net: &VtNet<'_, Free>, b: &Batch| $body(net, b)) as G,
        )
    };
}

#[test]
fn net_pieces_match_central_differences() {
    fn text<T: Tape<f32, Dev>>(net: &VtNet<'_, T>, b: &Batch) -> Loss<T> {
        let x = net.encode_text(&b.text.as_ref().unwrap().tokens);
        let n = x.shape().0;
        (x * weights(net, n)).sum()
    }
    fn pooled<T: Tape<f32, Dev>>(net: &VtNet<'_, T>, b: &Batch) -> Loss<T> {
        let x = net.pool(
            net.encode_text(&b.text.as_ref().unwrap().tokens),
            MAX_TOKENS,
        );
        let n = x.shape().0;
        (x * weights(net, n)).sum()
    }
    fn normed<T: Tape<f32, Dev>>(net: &VtNet<'_, T>, b: &Batch) -> Loss<T> {
        let x = net.l2_normalize(net.pool(
            net.encode_text(&b.text.as_ref().unwrap().tokens),
            MAX_TOKENS,
        ));
        let n = x.shape().0;
        (x * weights(net, n)).sum()
    }
    fn embedded<T: Tape<f32, Dev>>(net: &VtNet<'_, T>, b: &Batch) -> Loss<T> {
        let x = net.text_embedding_of(&b.text.as_ref().unwrap().tokens);
        let n = x.shape().0;
        (x * weights(net, n)).sum()
    }
    fn sims<T: Tape<f32, Dev>>(net: &VtNet<'_, T>, b: &Batch) -> Loss<T> {
        let t = net.text_embedding_of(&b.text.as_ref().unwrap().tokens);
        let v = net.video_embedding_of_frames(&b.visual.as_ref().unwrap().pixels);
        let s = t.matmul(v.permute());
        (s * 10.0).softmax::<Axis<1>>().square().sum()
    }
    let cases: [(&str, &str, (F, G)); 6] = [
        ("text encoder", "text.token_embedding", both!(text)),
        (
            "text encoder (attention)",
            "text.layer.attn.q.weight",
            both!(text),
        ),
        ("pooled text", "text.token_embedding", both!(pooled)),
        (
            "normalised pooled text",
            "text.token_embedding",
            both!(normed),
        ),
        ("text embedding", "text.token_embedding", both!(embedded)),
        (
            "similarity softmax",
            "video.frame_embedding.weight",
            both!(sims),
        ),
    ];
    for width in [32, 48] {
        for (what, block, (f, g)) in cases {
            check(width, what, block, f, g);
        }
    }
}
