//! The head's forward pass and its reverse pass (input gradient), written
//! out as WebAssembly text from the building blocks in [`super::kernels`].
//!
//! Forward, for K task tokens (PyTorch reference, eval mode):
//!
//! ```text
//! hid_k = relu(loss_fc1 · l_k)                      (h1)
//! tok_k = loss_fc2 · hid_k + task_embedding[k]      (d)
//! r1    = tok + out_proj(MHA_core(in_proj · tok))   x1 = LN1(r1)
//! r2    = x1 + linear2(relu(linear1 · x1))          x2 = LN2(r2)
//! f     = (1/K Σ_k x2_k) · fc1
//! ```
//!
//! Reverse, seeded with `∂f/∂f = 1`, visits the same steps backwards and
//! ends with `∂f/∂l_k = Σ_j ∂f/∂hid_kj · [hid_kj > 0] · loss_fc1.weight_j`.
//! The products with transposed weights use stored transposes (see
//! [`super::layout::Transposes`]), so every product is the same kernel.

use super::kernels::{self, MatMul, Simd};
use super::layout::Layout;
use crate::head::Param;
use std::fmt::Write;

/// Emits every function of the forward pass plus `$forward (result f32)`.
pub(crate) fn forward(l: &Layout, simd: Simd) -> String {
    let (a, k) = (&l.act, l.k);
    let w = |p: Param| l.weight(p);
    let crate::head::Dims { h1, d, f, heads } = l.dims;
    let mut s = String::new();
    let mm = |s: &mut String, m: MatMul| s.push_str(&kernels::matmul(&m, simd));
    // Scale embedding, first layer: Linear(1 -> h1), ReLU.
    writeln!(
        s,
        r#"(func $scale_embedding
  (local $t i32) (local $j i32) (local $l f32)
  (local.set $t (i32.const 0))
  (loop $tok
    (local.set $l (f32.load offset={loss} (i32.shl (local.get $t) (i32.const 2))))
    (local.set $j (i32.const 0))
    (loop $hid
      (f32.store offset={hid} (i32.add (i32.mul (local.get $t) (i32.const {hb})) (local.get $j))
        (f32.max (f32.add (f32.mul (f32.load offset={fc1w} (local.get $j)) (local.get $l)) (f32.load offset={fc1b} (local.get $j))) (f32.const 0)))
      (br_if $hid (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 4))) (i32.const {hb}))))
    (br_if $tok (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const 1))) (i32.const {k})))))"#,
        loss = a.loss,
        hid = a.hid,
        fc1w = w(Param::LossFc1Weight),
        fc1b = w(Param::LossFc1Bias),
        hb = 4 * h1,
    )
    .unwrap();
    mm(
        &mut s,
        MatMul {
            name: "fc2",
            x: a.hid,
            w: w(Param::LossFc2Weight),
            b: Some(w(Param::LossFc2Bias)),
            y: a.tok,
            tokens: k,
            nin: h1,
            nout: d,
            relu: false,
            accumulate: true,
        },
    );
    mm(
        &mut s,
        MatMul {
            name: "in_proj",
            x: a.tok,
            w: w(Param::InProjWeight),
            b: Some(w(Param::InProjBias)),
            y: a.qkv,
            tokens: k,
            nin: d,
            nout: 3 * d,
            relu: false,
            accumulate: false,
        },
    );
    s.push_str(&kernels::attention(
        "attention",
        a.qkv,
        a.prob,
        a.att,
        k,
        d,
        heads,
    ));
    mm(
        &mut s,
        MatMul {
            name: "out_proj",
            x: a.att,
            w: w(Param::OutProjWeight),
            b: Some(w(Param::OutProjBias)),
            y: a.r1,
            tokens: k,
            nin: d,
            nout: d,
            relu: false,
            accumulate: true,
        },
    );
    s.push_str(&kernels::layer_norm(
        "norm1",
        a.r1,
        w(Param::Norm1Weight),
        w(Param::Norm1Bias),
        a.xh1,
        a.rs1,
        a.x1,
        k,
        d,
    ));
    mm(
        &mut s,
        MatMul {
            name: "linear1",
            x: a.x1,
            w: w(Param::Linear1Weight),
            b: Some(w(Param::Linear1Bias)),
            y: a.ff,
            tokens: k,
            nin: d,
            nout: f,
            relu: true,
            accumulate: false,
        },
    );
    mm(
        &mut s,
        MatMul {
            name: "linear2",
            x: a.ff,
            w: w(Param::Linear2Weight),
            b: Some(w(Param::Linear2Bias)),
            y: a.r2,
            tokens: k,
            nin: f,
            nout: d,
            relu: false,
            accumulate: true,
        },
    );
    s.push_str(&kernels::layer_norm(
        "norm2",
        a.r2,
        w(Param::Norm2Weight),
        w(Param::Norm2Bias),
        a.xh2,
        a.rs2,
        a.x2,
        k,
        d,
    ));
    let kd4 = 4 * k * d;
    let db = 4 * d;
    write!(
        s,
        r#"(func $forward (result f32)
  (local $c i32) (local $t i32) (local $m f32) (local $out f32)
  (call $scale_embedding)
  (memory.copy (i32.const {tok}) (i32.const {emb}) (i32.const {kd4}))
  (call $fc2)
  (call $in_proj)
  (call $attention)
  (memory.copy (i32.const {r1}) (i32.const {tok}) (i32.const {kd4}))
  (call $out_proj)
  (call $norm1)
  (call $linear1)
  (memory.copy (i32.const {r2}) (i32.const {x1}) (i32.const {kd4}))
  (call $linear2)
  (call $norm2)
  ;; f = sum_c fc1_c * (sum_k x2_kc / K)
  (local.set $out (f32.const 0)) (local.set $c (i32.const 0))
  (loop $cols
    (local.set $m (f32.const 0)) (local.set $t (i32.const 0))
    (loop $toks
      (local.set $m (f32.add (local.get $m) (f32.load offset={x2} (i32.add (local.get $t) (local.get $c)))))
      (br_if $toks (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const {db}))) (i32.const {kd4}))))
    (local.set $out (f32.add (local.get $out) (f32.mul (f32.div (local.get $m) (f32.const {k})) (f32.load offset={head} (local.get $c)))))
    (br_if $cols (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 4))) (i32.const {db}))))
  (local.get $out))
"#,
        tok = a.tok,
        emb = w(Param::TaskEmbedding),
        r1 = a.r1,
        r2 = a.r2,
        x1 = a.x1,
        x2 = a.x2,
        head = w(Param::OutputWeight),
    )
    .unwrap();
    s
}

/// Emits every function of the reverse pass plus `$backward`, which writes
/// `∂f/∂l` to `g_loss`. Must run right after `$forward`.
pub(crate) fn backward(l: &Layout, simd: Simd) -> String {
    let (a, k) = (&l.act, l.k);
    let w = |p: Param| l.weight(p);
    let crate::head::Dims { h1, d, f, heads } = l.dims;
    let mut s = String::new();
    let mm = |s: &mut String, m: MatMul| s.push_str(&kernels::matmul(&m, simd));
    s.push_str(&kernels::layer_norm_backward(
        "norm2_b",
        a.g_x2,
        w(Param::Norm2Weight),
        a.xh2,
        a.rs2,
        a.g_r2,
        k,
        d,
    ));
    mm(
        &mut s,
        MatMul {
            name: "linear2_b",
            x: a.g_r2,
            w: l.t.w2,
            b: None,
            y: a.g_ff,
            tokens: k,
            nin: d,
            nout: f,
            relu: false,
            accumulate: false,
        },
    );
    mm(
        &mut s,
        MatMul {
            name: "linear1_b",
            x: a.g_ff,
            w: l.t.w1,
            b: None,
            y: a.g_x1,
            tokens: k,
            nin: f,
            nout: d,
            relu: false,
            accumulate: true,
        },
    );
    s.push_str(&kernels::layer_norm_backward(
        "norm1_b",
        a.g_x1,
        w(Param::Norm1Weight),
        a.xh1,
        a.rs1,
        a.g_r1,
        k,
        d,
    ));
    mm(
        &mut s,
        MatMul {
            name: "out_proj_b",
            x: a.g_r1,
            w: l.t.outw,
            b: None,
            y: a.g_att,
            tokens: k,
            nin: d,
            nout: d,
            relu: false,
            accumulate: false,
        },
    );
    s.push_str(&kernels::attention_backward(
        "attention_b",
        a.qkv,
        a.prob,
        a.g_att,
        a.g_qkv,
        a.g_p,
        k,
        d,
        heads,
    ));
    mm(
        &mut s,
        MatMul {
            name: "in_proj_b",
            x: a.g_qkv,
            w: l.t.inw,
            b: None,
            y: a.g_tok,
            tokens: k,
            nin: 3 * d,
            nout: d,
            relu: false,
            accumulate: true,
        },
    );
    mm(
        &mut s,
        MatMul {
            name: "fc2_b",
            x: a.g_tok,
            w: l.t.fc2w,
            b: None,
            y: a.g_hid,
            tokens: k,
            nin: d,
            nout: h1,
            relu: false,
            accumulate: false,
        },
    );
    let kd4 = 4 * k * d;
    let db = 4 * d;
    let hb = 4 * h1;
    write!(
        s,
        r#"(func $relu_mask (param $g i32) (param $act i32) (param $bytes i32)
  (local $i i32)
  (loop $m
    (if (f32.le (f32.load (i32.add (local.get $act) (local.get $i))) (f32.const 0))
      (then (f32.store (i32.add (local.get $g) (local.get $i)) (f32.const 0))))
    (br_if $m (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 4))) (local.get $bytes)))))
(func $backward
  (local $c i32) (local $t i32) (local $j i32) (local $s f32)
  ;; df/dx2_kc = fc1_c / K
  (local.set $t (i32.const 0))
  (loop $toks
    (local.set $c (i32.const 0))
    (loop $cols
      (f32.store offset={g_x2} (i32.add (local.get $t) (local.get $c)) (f32.div (f32.load offset={head} (local.get $c)) (f32.const {k})))
      (br_if $cols (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 4))) (i32.const {db}))))
    (br_if $toks (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const {db}))) (i32.const {kd4}))))
  (call $norm2_b)
  (call $linear2_b)
  (call $relu_mask (i32.const {g_ff}) (i32.const {ff}) (i32.const {kf4}))
  (memory.copy (i32.const {g_x1}) (i32.const {g_r2}) (i32.const {kd4}))
  (call $linear1_b)
  (call $norm1_b)
  (call $out_proj_b)
  (memory.fill (i32.const {g_qkv}) (i32.const 0) (i32.const {kqkv4}))
  (call $attention_b)
  (memory.copy (i32.const {g_tok}) (i32.const {g_r1}) (i32.const {kd4}))
  (call $in_proj_b)
  (call $fc2_b)
  (call $relu_mask (i32.const {g_hid}) (i32.const {hid}) (i32.const {kh4}))
  ;; df/dl_k = sum_j dhid_kj * loss_fc1.weight_j
  (local.set $t (i32.const 0))
  (loop $tl
    (local.set $s (f32.const 0)) (local.set $j (i32.const 0))
    (loop $hl
      (local.set $s (f32.add (local.get $s) (f32.mul
        (f32.load offset={g_hid} (i32.add (i32.mul (local.get $t) (i32.const {hb})) (local.get $j)))
        (f32.load offset={fc1w} (local.get $j)))))
      (br_if $hl (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 4))) (i32.const {hb}))))
    (f32.store offset={g_loss} (i32.shl (local.get $t) (i32.const 2)) (local.get $s))
    (br_if $tl (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const 1))) (i32.const {k})))))
"#,
        g_x2 = a.g_x2,
        head = w(Param::OutputWeight),
        g_ff = a.g_ff,
        ff = a.ff,
        kf4 = 4 * k * f,
        g_x1 = a.g_x1,
        g_r2 = a.g_r2,
        g_qkv = a.g_qkv,
        kqkv4 = 12 * k * d,
        g_tok = a.g_tok,
        g_r1 = a.g_r1,
        g_hid = a.g_hid,
        hid = a.hid,
        kh4 = 4 * k * h1,
        g_loss = a.g_loss,
        fc1w = w(Param::LossFc1Weight),
    )
    .unwrap();
    s
}
