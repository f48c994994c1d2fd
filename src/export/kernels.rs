//! WebAssembly text for the head's building blocks, specialised at export
//! time: every width, token count and buffer address is a constant in the
//! emitted code.
//!
//! * [`matmul`] — `Y[t, o] = act(b[o] + Σ_i W[o, i] X[t, i]) (+ Y[t, o])`,
//!   `W` stored `out x in` (PyTorch `nn.Linear`). The bulk of the work, so it
//!   is the only SIMD kernel: each 4-wide slice of a weight row is loaded
//!   once and multiplied into up to 8 token accumulators.
//! * [`layer_norm`], [`layer_norm_backward`] — PyTorch `nn.LayerNorm`
//!   (biased variance, eps 1e-5) and its input gradient.
//! * [`attention`], [`attention_backward`] — the scaled dot-product core of
//!   `nn.MultiheadAttention` (per head `softmax(Q Kᵀ / √d_h) V`) and its
//!   gradient with respect to q, k and v.
//! * [`EXP`] — `exp` in f64 by range reduction and a degree-11 Taylor
//!   polynomial (relative error < 1e-14 on the reduced range), since wasm
//!   has no transcendental instructions.

use std::fmt::Write;

/// How the matrix products are vectorised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Simd {
    /// One f32 lane at a time (for comparison).
    Scalar,
    /// 128-bit SIMD, `f32x4.mul` then `f32x4.add`.
    #[default]
    V128,
    /// 128-bit relaxed SIMD, `f32x4.relaxed_madd` (fused where the CPU has FMA).
    RelaxedMadd,
}

/// The most tokens one pass over a weight row serves (accumulator registers).
const TOKEN_BLOCK: usize = 8;

/// One matrix product to emit as a function.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MatMul<'a> {
    /// Function name (without `$`).
    pub name: &'a str,
    /// Input rows, `tokens x nin`.
    pub x: u32,
    /// Weight, `nout x nin`.
    pub w: u32,
    /// Bias, `nout`, if any.
    pub b: Option<u32>,
    /// Output rows, `tokens x nout`.
    pub y: u32,
    pub tokens: usize,
    pub nin: usize,
    pub nout: usize,
    /// Apply ReLU to the result.
    pub relu: bool,
    /// Add the product to what `y` holds (after the bias).
    pub accumulate: bool,
}

/// Emits `(func $name ...)` computing the product described by `m`.
///
/// The result of row `t`, column `o` is
/// `relu?((Σ_i W[o,i] X[t,i] + b[o]) + Y_old[t,o])`, summed in 4 (or 1)
/// interleaved partial sums over `i`.
pub(crate) fn matmul(m: &MatMul, simd: Simd) -> String {
    let lanes = if simd == Simd::Scalar { 1 } else { 4 };
    assert!(m.nin % lanes == 0 && m.nin > 0 && m.nout > 0 && m.tokens > 0);
    let row_bytes = 4 * m.nin as u32;
    // Unroll the inner loop twice where the row length allows it.
    let step = if m.nin % (2 * lanes) == 0 { 2 } else { 1 };
    let width = 4 * lanes as u32;
    let nb = m.tokens.min(TOKEN_BLOCK);
    let (vt, zero) = if lanes == 4 {
        ("v128", "(v128.const i32x4 0 0 0 0)")
    } else {
        ("f32", "(f32.const 0)")
    };
    let mut s = String::new();
    writeln!(s, "(func ${}", m.name).unwrap();
    writeln!(
        s,
        "  (local $i i32) (local $o4 i32) (local $wrow i32) (local $wv {vt}) (local $v f32)"
    )
    .unwrap();
    for t in 0..nb {
        write!(s, " (local $a{t} {vt})").unwrap();
    }
    s.push('\n');
    let mut t0 = 0;
    while t0 < m.tokens {
        let n = (m.tokens - t0).min(TOKEN_BLOCK);
        writeln!(
            s,
            "  (local.set $o4 (i32.const 0)) (local.set $wrow (i32.const 0))"
        )
        .unwrap();
        writeln!(s, "  (loop $ol").unwrap();
        for t in 0..n {
            writeln!(s, "    (local.set $a{t} {zero})").unwrap();
        }
        writeln!(s, "    (local.set $i (i32.const 0))").unwrap();
        writeln!(s, "    (loop $il").unwrap();
        for u in 0..step as u32 {
            let du = u * width;
            let (load, mul, add) = if lanes == 4 {
                ("v128.load", "f32x4.mul", "f32x4.add")
            } else {
                ("f32.load", "f32.mul", "f32.add")
            };
            writeln!(
                s,
                "      (local.set $wv ({load} offset={} (i32.add (local.get $wrow) (local.get $i))))",
                m.w + du
            )
            .unwrap();
            for t in 0..n {
                let xo = m.x + (t0 + t) as u32 * row_bytes + du;
                let xv = format!("({load} offset={xo} (local.get $i))");
                if simd == Simd::RelaxedMadd {
                    writeln!(
                        s,
                        "      (local.set $a{t} (f32x4.relaxed_madd (local.get $wv) {xv} (local.get $a{t})))"
                    )
                    .unwrap();
                } else {
                    writeln!(
                        s,
                        "      (local.set $a{t} ({add} (local.get $a{t}) ({mul} (local.get $wv) {xv})))"
                    )
                    .unwrap();
                }
            }
        }
        writeln!(
            s,
            "      (br_if $il (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const {}))) (i32.const {row_bytes}))))",
            step as u32 * width
        )
        .unwrap();
        for t in 0..n {
            let sum = if lanes == 4 {
                format!(
                    "(f32.add (f32.add (f32x4.extract_lane 0 (local.get $a{t})) (f32x4.extract_lane 1 (local.get $a{t}))) \
                     (f32.add (f32x4.extract_lane 2 (local.get $a{t})) (f32x4.extract_lane 3 (local.get $a{t}))))"
                )
            } else {
                format!("(local.get $a{t})")
            };
            let yo = m.y + (t0 + t) as u32 * 4 * m.nout as u32;
            let mut v = sum;
            if let Some(b) = m.b {
                v = format!("(f32.add {v} (f32.load offset={b} (local.get $o4)))");
            }
            if m.accumulate {
                v = format!("(f32.add {v} (f32.load offset={yo} (local.get $o4)))");
            }
            if m.relu {
                v = format!("(f32.max {v} (f32.const 0))");
            }
            writeln!(s, "    (f32.store offset={yo} (local.get $o4) {v})").unwrap();
        }
        writeln!(
            s,
            "    (local.set $wrow (i32.add (local.get $wrow) (i32.const {row_bytes})))"
        )
        .unwrap();
        writeln!(
            s,
            "    (br_if $ol (i32.lt_u (local.tee $o4 (i32.add (local.get $o4) (i32.const 4))) (i32.const {}))))",
            4 * m.nout
        )
        .unwrap();
        t0 += n;
    }
    s.push_str(")\n");
    s
}

/// Emits `(func $name)`: `out = xh * g + b` with `xh = (x - mean) * rs`,
/// `rs = 1/sqrt(var + 1e-5)` per row of `x` (`rows x d`); keeps `xh` and
/// `rs` for the reverse pass.
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer_norm(
    name: &str,
    x: u32,
    g: u32,
    b: u32,
    xh: u32,
    rs: u32,
    out: u32,
    rows: usize,
    d: usize,
) -> String {
    let rb = 4 * d;
    format!(
        r#"(func ${name}
  (local $r i32) (local $row i32) (local $c i32) (local $m f32) (local $v f32) (local $t f32) (local $s f32)
  (local.set $r (i32.const 0))
  (loop $rows
    (local.set $row (i32.mul (local.get $r) (i32.const {rb})))
    (local.set $m (f32.const 0)) (local.set $c (i32.const 0))
    (loop $a
      (local.set $m (f32.add (local.get $m) (f32.load offset={x} (i32.add (local.get $row) (local.get $c)))))
      (br_if $a (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 4))) (i32.const {rb}))))
    (local.set $m (f32.div (local.get $m) (f32.const {d})))
    (local.set $v (f32.const 0)) (local.set $c (i32.const 0))
    (loop $b
      (local.set $t (f32.sub (f32.load offset={x} (i32.add (local.get $row) (local.get $c))) (local.get $m)))
      (local.set $v (f32.add (local.get $v) (f32.mul (local.get $t) (local.get $t))))
      (br_if $b (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 4))) (i32.const {rb}))))
    (local.set $s (f32.div (f32.const 1) (f32.sqrt (f32.add (f32.div (local.get $v) (f32.const {d})) (f32.const 1e-5)))))
    (f32.store offset={rs} (i32.shl (local.get $r) (i32.const 2)) (local.get $s))
    (local.set $c (i32.const 0))
    (loop $n
      (local.set $t (f32.mul (f32.sub (f32.load offset={x} (i32.add (local.get $row) (local.get $c))) (local.get $m)) (local.get $s)))
      (f32.store offset={xh} (i32.add (local.get $row) (local.get $c)) (local.get $t))
      (f32.store offset={out} (i32.add (local.get $row) (local.get $c))
        (f32.add (f32.mul (local.get $t) (f32.load offset={g} (local.get $c))) (f32.load offset={b} (local.get $c))))
      (br_if $n (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 4))) (i32.const {rb}))))
    (br_if $rows (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (i32.const {rows}))))
)
"#
    )
}

/// Emits `(func $name)`: the input gradient of [`layer_norm`],
/// `dx = rs * (dxh - mean(dxh) - xh * mean(dxh * xh))` with `dxh = dy * g`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn layer_norm_backward(
    name: &str,
    dy: u32,
    g: u32,
    xh: u32,
    rs: u32,
    dx: u32,
    rows: usize,
    d: usize,
) -> String {
    let rb = 4 * d;
    format!(
        r#"(func ${name}
  (local $r i32) (local $row i32) (local $c i32) (local $m1 f32) (local $m2 f32) (local $t f32)
  (local.set $r (i32.const 0))
  (loop $rows
    (local.set $row (i32.mul (local.get $r) (i32.const {rb})))
    (local.set $m1 (f32.const 0)) (local.set $m2 (f32.const 0)) (local.set $c (i32.const 0))
    (loop $a
      (local.set $t (f32.mul (f32.load offset={dy} (i32.add (local.get $row) (local.get $c))) (f32.load offset={g} (local.get $c))))
      (local.set $m1 (f32.add (local.get $m1) (local.get $t)))
      (local.set $m2 (f32.add (local.get $m2) (f32.mul (local.get $t) (f32.load offset={xh} (i32.add (local.get $row) (local.get $c))))))
      (br_if $a (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 4))) (i32.const {rb}))))
    (local.set $m1 (f32.div (local.get $m1) (f32.const {d})))
    (local.set $m2 (f32.div (local.get $m2) (f32.const {d})))
    (local.set $c (i32.const 0))
    (loop $n
      (local.set $t (f32.mul (f32.load offset={dy} (i32.add (local.get $row) (local.get $c))) (f32.load offset={g} (local.get $c))))
      (f32.store offset={dx} (i32.add (local.get $row) (local.get $c))
        (f32.mul (f32.load offset={rs} (i32.shl (local.get $r) (i32.const 2)))
          (f32.sub (f32.sub (local.get $t) (local.get $m1))
            (f32.mul (f32.load offset={xh} (i32.add (local.get $row) (local.get $c))) (local.get $m2)))))
      (br_if $n (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 4))) (i32.const {rb}))))
    (br_if $rows (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 1))) (i32.const {rows}))))
)
"#
    )
}

/// Emits `(func $name)`: multi-head scaled dot-product attention over the
/// q | k | v rows of `qkv` (`k x 3d`), writing the probabilities to `prob`
/// (`heads x k x k`) and the concatenated head outputs to `att` (`k x d`).
pub(crate) fn attention(
    name: &str,
    qkv: u32,
    prob: u32,
    att: u32,
    k: usize,
    d: usize,
    heads: usize,
) -> String {
    let dh = d / heads;
    let scale = 1.0 / (dh as f32).sqrt();
    let rb = 12 * d; // bytes per qkv row
    let ab = 4 * d; // bytes per att row
    let kk4 = 4 * k * k;
    let k4 = 4 * k;
    let dh4 = 4 * dh;
    let koff = qkv + 4 * d as u32;
    let voff = qkv + 8 * d as u32;
    format!(
        r#"(func ${name}
  (local $h i32) (local $i i32) (local $j i32) (local $c i32) (local $hc i32) (local $pi i32)
  (local $s f32) (local $mx f32) (local $sum f32) (local $e f32)
  (local.set $h (i32.const 0))
  (loop $heads
    (local.set $hc (i32.mul (local.get $h) (i32.const {dh4})))
    (local.set $i (i32.const 0))
    (loop $queries
      (local.set $pi (i32.add (i32.mul (local.get $h) (i32.const {kk4})) (i32.mul (local.get $i) (i32.const {k4}))))
      ;; scores s_j = (q_i . k_j) / sqrt(dh), and their maximum
      (local.set $mx (f32.const -inf))
      (local.set $j (i32.const 0))
      (loop $keys
        (local.set $s (f32.const 0)) (local.set $c (i32.const 0))
        (loop $dot
          (local.set $s (f32.add (local.get $s)
            (f32.mul (f32.load offset={qkv} (i32.add (i32.add (i32.mul (local.get $i) (i32.const {rb})) (local.get $hc)) (local.get $c)))
                     (f32.load offset={koff} (i32.add (i32.add (i32.mul (local.get $j) (i32.const {rb})) (local.get $hc)) (local.get $c))))))
          (br_if $dot (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 4))) (i32.const {dh4}))))
        (local.set $s (f32.mul (local.get $s) (f32.const {scale:e})))
        (f32.store offset={prob} (i32.add (local.get $pi) (i32.shl (local.get $j) (i32.const 2))) (local.get $s))
        (local.set $mx (f32.max (local.get $mx) (local.get $s)))
        (br_if $keys (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const {k}))))
      ;; softmax
      (local.set $sum (f32.const 0)) (local.set $j (i32.const 0))
      (loop $ex
        (local.set $e (f32.demote_f64 (call $exp (f64.promote_f32
          (f32.sub (f32.load offset={prob} (i32.add (local.get $pi) (i32.shl (local.get $j) (i32.const 2)))) (local.get $mx))))))
        (f32.store offset={prob} (i32.add (local.get $pi) (i32.shl (local.get $j) (i32.const 2))) (local.get $e))
        (local.set $sum (f32.add (local.get $sum) (local.get $e)))
        (br_if $ex (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const {k}))))
      (local.set $j (i32.const 0))
      (loop $nrm
        (f32.store offset={prob} (i32.add (local.get $pi) (i32.shl (local.get $j) (i32.const 2)))
          (f32.div (f32.load offset={prob} (i32.add (local.get $pi) (i32.shl (local.get $j) (i32.const 2)))) (local.get $sum)))
        (br_if $nrm (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const {k}))))
      ;; att_i = sum_j p_j v_j (this head's slice)
      (local.set $c (i32.const 0))
      (loop $out
        (local.set $s (f32.const 0)) (local.set $j (i32.const 0))
        (loop $acc
          (local.set $s (f32.add (local.get $s)
            (f32.mul (f32.load offset={prob} (i32.add (local.get $pi) (i32.shl (local.get $j) (i32.const 2))))
                     (f32.load offset={voff} (i32.add (i32.add (i32.mul (local.get $j) (i32.const {rb})) (local.get $hc)) (local.get $c))))))
          (br_if $acc (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const {k}))))
        (f32.store offset={att} (i32.add (i32.add (i32.mul (local.get $i) (i32.const {ab})) (local.get $hc)) (local.get $c)) (local.get $s))
        (br_if $out (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 4))) (i32.const {dh4}))))
      (br_if $queries (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const {k}))))
    (br_if $heads (i32.lt_u (local.tee $h (i32.add (local.get $h) (i32.const 1))) (i32.const {heads}))))
)
"#
    )
}

/// Emits `(func $name)`: given `datt` (`k x d`), accumulates the gradients
/// of q, k and v into `dqkv` (`k x 3d`, which must be zero on entry), using
/// the probabilities `prob` of the forward pass and `dp` (k floats) as scratch.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attention_backward(
    name: &str,
    qkv: u32,
    prob: u32,
    datt: u32,
    dqkv: u32,
    dp: u32,
    k: usize,
    d: usize,
    heads: usize,
) -> String {
    let dh = d / heads;
    let scale = 1.0 / (dh as f32).sqrt();
    let rb = 12 * d;
    let ab = 4 * d;
    let kk4 = 4 * k * k;
    let k4 = 4 * k;
    let dh4 = 4 * dh;
    let koff = qkv + 4 * d as u32;
    let voff = qkv + 8 * d as u32;
    let dkoff = dqkv + 4 * d as u32;
    let dvoff = dqkv + 8 * d as u32;
    format!(
        r#"(func ${name}
  (local $h i32) (local $i i32) (local $j i32) (local $c i32) (local $hc i32) (local $pi i32)
  (local $s f32) (local $dot f32) (local $p f32) (local $ds f32) (local $ga f32) (local $qi i32) (local $ai i32) (local $kj i32)
  (local.set $h (i32.const 0))
  (loop $heads
    (local.set $hc (i32.mul (local.get $h) (i32.const {dh4})))
    (local.set $i (i32.const 0))
    (loop $queries
      (local.set $pi (i32.add (i32.mul (local.get $h) (i32.const {kk4})) (i32.mul (local.get $i) (i32.const {k4}))))
      (local.set $qi (i32.add (i32.mul (local.get $i) (i32.const {rb})) (local.get $hc)))
      (local.set $ai (i32.add (i32.mul (local.get $i) (i32.const {ab})) (local.get $hc)))
      ;; dp_j = datt_i . v_j ; dv_j += p_ij datt_i ; dot = sum_j p_ij dp_j
      (local.set $dot (f32.const 0)) (local.set $j (i32.const 0))
      (loop $keys
        (local.set $kj (i32.add (i32.mul (local.get $j) (i32.const {rb})) (local.get $hc)))
        (local.set $p (f32.load offset={prob} (i32.add (local.get $pi) (i32.shl (local.get $j) (i32.const 2)))))
        (local.set $s (f32.const 0)) (local.set $c (i32.const 0))
        (loop $inner
          (local.set $ga (f32.load offset={datt} (i32.add (local.get $ai) (local.get $c))))
          (local.set $s (f32.add (local.get $s) (f32.mul (local.get $ga)
            (f32.load offset={voff} (i32.add (local.get $kj) (local.get $c))))))
          (f32.store offset={dvoff} (i32.add (local.get $kj) (local.get $c))
            (f32.add (f32.load offset={dvoff} (i32.add (local.get $kj) (local.get $c))) (f32.mul (local.get $p) (local.get $ga))))
          (br_if $inner (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 4))) (i32.const {dh4}))))
        (f32.store offset={dp} (i32.shl (local.get $j) (i32.const 2)) (local.get $s))
        (local.set $dot (f32.add (local.get $dot) (f32.mul (local.get $p) (local.get $s))))
        (br_if $keys (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const {k}))))
      ;; ds_j = p_ij (dp_j - dot) / sqrt(dh); dq_i += ds_j k_j ; dk_j += ds_j q_i
      (local.set $j (i32.const 0))
      (loop $keys2
        (local.set $kj (i32.add (i32.mul (local.get $j) (i32.const {rb})) (local.get $hc)))
        (local.set $ds (f32.mul (f32.mul (f32.load offset={prob} (i32.add (local.get $pi) (i32.shl (local.get $j) (i32.const 2))))
          (f32.sub (f32.load offset={dp} (i32.shl (local.get $j) (i32.const 2))) (local.get $dot))) (f32.const {scale:e})))
        (local.set $c (i32.const 0))
        (loop $inner2
          (f32.store offset={dqkv} (i32.add (local.get $qi) (local.get $c))
            (f32.add (f32.load offset={dqkv} (i32.add (local.get $qi) (local.get $c)))
              (f32.mul (local.get $ds) (f32.load offset={koff} (i32.add (local.get $kj) (local.get $c))))))
          (f32.store offset={dkoff} (i32.add (local.get $kj) (local.get $c))
            (f32.add (f32.load offset={dkoff} (i32.add (local.get $kj) (local.get $c)))
              (f32.mul (local.get $ds) (f32.load offset={qkv} (i32.add (local.get $qi) (local.get $c))))))
          (br_if $inner2 (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 4))) (i32.const {dh4}))))
        (br_if $keys2 (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (i32.const {k}))))
      (br_if $queries (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const {k}))))
    (br_if $heads (i32.lt_u (local.tee $h (i32.add (local.get $h) (i32.const 1))) (i32.const {heads}))))
)
"#
    )
}

/// `exp(x)` in f64: `x = n ln2 + r`, `|r| <= ln2/2`, Taylor to degree 11,
/// times `2^n` built from the exponent bits; `x` is clamped to ±700.
pub(crate) const EXP: &str = r#"(func $exp (param $x f64) (result f64)
  (local $n f64) (local $r f64)
  (local.set $x (f64.min (f64.max (local.get $x) (f64.const -700)) (f64.const 700)))
  (local.set $n (f64.nearest (f64.mul (local.get $x) (f64.const 1.4426950408889634))))
  (local.set $r (f64.sub (f64.sub (local.get $x) (f64.mul (local.get $n) (f64.const 0.693147180369123816490)))
                         (f64.mul (local.get $n) (f64.const 1.90821492927058770002e-10))))
  (f64.mul
    (f64.add (f64.const 1) (f64.mul (local.get $r)
    (f64.add (f64.const 1) (f64.mul (local.get $r)
    (f64.add (f64.const 0.5) (f64.mul (local.get $r)
    (f64.add (f64.const 0.16666666666666666) (f64.mul (local.get $r)
    (f64.add (f64.const 0.041666666666666664) (f64.mul (local.get $r)
    (f64.add (f64.const 0.008333333333333333) (f64.mul (local.get $r)
    (f64.add (f64.const 0.001388888888888889) (f64.mul (local.get $r)
    (f64.add (f64.const 1.984126984126984e-4) (f64.mul (local.get $r)
    (f64.add (f64.const 2.48015873015873e-5) (f64.mul (local.get $r)
    (f64.add (f64.const 2.755731922398589e-6) (f64.mul (local.get $r)
    (f64.add (f64.const 2.755731922398589e-7) (f64.mul (local.get $r)
             (f64.const 2.505210838544172e-8)))))))))))))))))))))))
    (f64.reinterpret_i64 (i64.shl (i64.add (i64.trunc_sat_f64_s (local.get $n)) (i64.const 1023)) (i64.const 52)))))
"#;
