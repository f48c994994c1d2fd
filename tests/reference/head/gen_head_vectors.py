#!/usr/bin/env python3
"""Reference test vectors for the MELTR loss head f_phi: R^K -> R.

What this mirrors
-----------------
The MELTR head of the reference (PyTorch) code, evaluated in float64:

    token_k = loss_fc2(relu(loss_fc1([l_k]))) + task_embedding.weight[k]
    X = LayerNorm1(X + MHA(X))                     # post-norm, PyTorch
    X = LayerNorm2(X + linear2(relu(linear1(X))))  # nn.TransformerEncoderLayer
    f = mean_k(X_k) @ fc1.weight^T                 # no bias, no activation

MHA is PyTorch nn.MultiheadAttention (8 heads, no mask, eval mode, so no
dropout): Q/K/V = X W^T + b with W the row blocks 0:d, d:2d, 2d:3d of
in_proj_weight; head h uses columns h*dh:(h+1)*dh, dh = d/8;
A = softmax(Q_h K_h^T / sqrt(dh)) over keys; concat heads; out_proj.
LayerNorm over d, biased variance, eps 1e-5, affine. Linear weights are
stored `out x in` under the PyTorch state_dict names.

For each case it records (all float64):
  value     = f(l)
  weights   = grad_l f(l)                   (the per-task weights a)
  tangent   = D_l f(l)[c]                   (jax.jvp)
  head_term = grad_phi D_l f_phi(l)[c]      (jax.grad over jax.jvp: true
                                            double differentiation)
head_term is stored per tensor in the reference layout (row-major, PyTorch
shapes): shape, L2 norm, stride s, the elements at flat indices 0, s, 2s, ..
(s = 1 when the tensor has <= 4096 elements, else ceil(n / 1024)), and
"probe" = sum_i head_term[i] * u(999, t, i) over ALL elements (u as below,
in float64, NOT rounded to float32), so the whole tensor is checked.

Two head-term blocks are zero in exact arithmetic and hold only round-off
here (~1e-19): encoder.norm2.bias (it enters f additively, independent of l)
and the key rows d:2d of encoder.self_attn.in_proj_bias (softmax is invariant
to a per-query shift). Compare element-wise with a tolerance scaled by the
tensor's norm (or the case's largest entry), not purely relative.

Deterministic weights (the Rust test recreates them; integer arithmetic):
  splitmix64(x): x = x + 0x9E3779B97F4A7C15 (mod 2^64); z = x;
                 z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 (mod 2^64);
                 z = (z ^ (z >> 27)) * 0x94D049BB133111EB (mod 2^64);
                 return z ^ (z >> 31)
  u(seed, t, i) = (splitmix64((seed*1000003 + t*65537 + i) mod 2^64) >> 11)
                  / 2^53 * 2 - 1                     (float64 in [-1, 1))
  element       = float32(offset + scale * u(seed, t, i))   (computed in f64,
                  then rounded to nearest float32; scale = 1/sqrt(n) in f64)
t = tensor index in PARAMS below, i = flat row-major element index. The head
is then evaluated in float64 on those float32-rounded values.

Losses l (log-uniform in [0.01, 20], some cases with entries forced near 20
and near 0.01) and the direction c (standard normal) are drawn with
numpy.random.default_rng(case seed), rounded to float32 and stored in the
JSON; the Rust side reads them, it does not regenerate them.

Also written: case0_weights.safetensors, the 18 float32 tensors of the first
case (allinone, K=2) under the PyTorch names, to test loading such a file.

Rerun (from the repository root):
    pip install jax==0.10.2 jaxlib==0.10.2 numpy==2.4.6 safetensors==0.8.0
    python3 tests/reference/head/gen_head_vectors.py
Generated with Python 3.11.7, jax/jaxlib 0.10.2, numpy 2.4.6,
safetensors 0.8.0, on CPU. The script self-checks before writing:
tangent == weights . c (1e-12), central differences of weights (1e-6 rel)
and of sampled head_term entries (1e-5 rel).
"""
import json
import math
import os
import sys

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platform_name", "cpu")
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HEADS = 8
LN_EPS = 1e-5
MASK64 = (1 << 64) - 1

PRESETS = {  # name: (h1, d, f)
    "allinone": (128, 128, 128),
    "univl": (128, 256, 512),
    "violet": (256, 512, 512),
    "paper": (128, 512, 512),
}

# (name, preset, K, seed, forced extremes {index: value})
CASES = [
    ("allinone_k2", "allinone", 2, 11, {}),
    ("allinone_k5_extremes", "allinone", 5, 23, {0: 19.93, 3: 0.01013}),
    ("univl_k8", "univl", 8, 37, {}),
    ("univl_k3_high", "univl", 3, 41, {1: 19.87}),
    ("violet_k3", "violet", 3, 53, {}),
    ("paper_k5_low", "paper", 5, 67, {2: 0.01021}),
]


def param_specs(h1, d, f):
    """(name, shape, offset, scale) in tensor-index order t = 0..17."""
    b = 0.1
    return [
        ("task_embedding.weight", None, 0.0, 1.0),  # shape [K, d], set below
        ("loss_fc1.weight", (h1, 1), 0.0, 1.0),
        ("loss_fc1.bias", (h1,), 0.0, 0.5),
        ("loss_fc2.weight", (d, h1), 0.0, 1.0 / math.sqrt(h1)),
        ("loss_fc2.bias", (d,), 0.0, b),
        ("encoder.self_attn.in_proj_weight", (3 * d, d), 0.0, 1.0 / math.sqrt(d)),
        ("encoder.self_attn.in_proj_bias", (3 * d,), 0.0, b),
        ("encoder.self_attn.out_proj.weight", (d, d), 0.0, 1.0 / math.sqrt(d)),
        ("encoder.self_attn.out_proj.bias", (d,), 0.0, b),
        ("encoder.linear1.weight", (f, d), 0.0, 1.0 / math.sqrt(d)),
        ("encoder.linear1.bias", (f,), 0.0, b),
        ("encoder.linear2.weight", (d, f), 0.0, 1.0 / math.sqrt(f)),
        ("encoder.linear2.bias", (d,), 0.0, b),
        ("encoder.norm1.weight", (d,), 1.0, 0.2),
        ("encoder.norm1.bias", (d,), 0.0, 0.1),
        ("encoder.norm2.weight", (d,), 1.0, 0.2),
        ("encoder.norm2.bias", (d,), 0.0, 0.1),
        ("fc1.weight", (1, d), 0.0, 1.0 / math.sqrt(d)),
    ]


# ---------------------------------------------------------------- PRNG ----
def splitmix64(x):
    """Scalar reference (Python ints, mod 2^64)."""
    x = (x + 0x9E3779B97F4A7C15) & MASK64
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def u_scalar(seed, t, i):
    return (splitmix64((seed * 1000003 + t * 65537 + i) & MASK64) >> 11) / 2.0**53 * 2.0 - 1.0


def u_array(seed, t, n):
    """u(seed, t, i) for i = 0..n-1 (numpy uint64 arithmetic wraps mod 2^64)."""
    base = np.uint64((seed * 1000003 + t * 65537) & MASK64)
    with np.errstate(over="ignore"):
        x = base + np.arange(n, dtype=np.uint64)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        z = x
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0**53 * 2.0 - 1.0


def make_params(seed, k, h1, d, f):
    names, f32, f64 = [], [], []
    for t, (name, shape, off, scale) in enumerate(param_specs(h1, d, f)):
        if shape is None:
            shape = (k, d)
        n = int(np.prod(shape))
        v = (off + scale * u_array(seed, t, n)).astype(np.float32).reshape(shape)
        names.append(name)
        f32.append(v)
        f64.append(v.astype(np.float64))
    return names, f32, f64


# ---------------------------------------------------------------- head ----
def layer_norm(x, w, b):
    mu = jnp.mean(x, axis=-1, keepdims=True)
    var = jnp.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return (x - mu) / jnp.sqrt(var + LN_EPS) * w + b


def head(p, l):
    (emb, w1, b1, w2, b2, win, bin_, wo, bo, wl1, bl1, wl2, bl2,
     n1w, n1b, n2w, n2b, wfc) = p
    k, d = emb.shape
    dh = d // HEADS
    x = jax.nn.relu(l[:, None] @ w1.T + b1) @ w2.T + b2 + emb  # [K, d]
    q = x @ win[0:d].T + bin_[0:d]
    kk = x @ win[d:2 * d].T + bin_[d:2 * d]
    v = x @ win[2 * d:3 * d].T + bin_[2 * d:3 * d]
    qh = q.reshape(k, HEADS, dh).transpose(1, 0, 2)  # [H, K, dh]
    kh = kk.reshape(k, HEADS, dh).transpose(1, 0, 2)
    vh = v.reshape(k, HEADS, dh).transpose(1, 0, 2)
    a = jax.nn.softmax(qh @ kh.transpose(0, 2, 1) / math.sqrt(dh), axis=-1)
    o = (a @ vh).transpose(1, 0, 2).reshape(k, d)
    x = layer_norm(x + (o @ wo.T + bo), n1w, n1b)
    x = layer_norm(x + (jax.nn.relu(x @ wl1.T + bl1) @ wl2.T + bl2), n2w, n2b)
    return (jnp.mean(x, axis=0) @ wfc.T)[0]


def tangent_fn(p, l, c):
    return jax.jvp(lambda ll: head(p, ll), (l,), (c,))[1]


value_and_weights = jax.jit(jax.value_and_grad(head, argnums=1))
tangent_jit = jax.jit(tangent_fn)
head_term_fn = jax.jit(jax.value_and_grad(tangent_fn, argnums=0))
# second route, reverse over reverse: grad_phi (grad_l f . c), for a cross-check
head_term_rr = jax.jit(jax.grad(
    lambda p, l, c: jnp.dot(jax.grad(head, argnums=1)(p, l), c), argnums=0))


# ---------------------------------------------------------- self-checks --
def rel_err(approx, exact, floor):
    return abs(approx - exact) / max(abs(exact), floor)


def check_case(name, p, l, c, value, weights, tangent, ht, rng):
    worst = {}
    # 1. tangent == weights . c
    wc = float(np.dot(weights, c))
    e = abs(tangent - wc) / max(1.0, abs(tangent))
    assert e <= 1e-12, (name, "tangent vs weights.c", e)
    worst["tangent_vs_wc"] = e
    # 1b. head_term (grad over jvp) == reverse-over-reverse, per tensor, rel. L2
    rr = head_term_rr(p, jnp.asarray(l), jnp.asarray(c))
    e = max(float(np.linalg.norm(np.asarray(a) - b)) / max(float(np.linalg.norm(b)), 1e-300)
            for a, b in zip(rr, ht) if np.linalg.norm(b) > 0)
    assert e <= 1e-12, (name, "grad-over-jvp vs reverse-over-reverse", e)
    worst["jvp_vs_rev_rev"] = e
    # 2. central difference of weights on l (f64)
    wmax = float(np.max(np.abs(weights)))
    e_w = 0.0
    for k in range(len(l)):
        h = 1e-5 * max(abs(l[k]), 1e-2)
        lp, lm = l.copy(), l.copy()
        lp[k] += h
        lm[k] -= h
        fd = (float(head(p, jnp.asarray(lp))) - float(head(p, jnp.asarray(lm)))) / (2 * h)
        e_w = max(e_w, rel_err(fd, weights[k], 1e-3 * wmax))
    assert e_w <= 1e-6, (name, "fd weights", e_w)
    worst["fd_weights"] = e_w
    # 3. central difference of a few head_term entries per tensor
    e_h, n_h = 0.0, 0
    lj, cj = jnp.asarray(l), jnp.asarray(c)
    for t, g in enumerate(ht):
        flat = g.ravel()
        gmax = float(np.max(np.abs(flat)))
        if gmax == 0.0:
            # e.g. norm2.bias: it enters f as norm2.bias . fc1.weight, additive
            # and independent of l, so its head term is exactly zero.
            pv = np.asarray(p[t]).ravel()
            outs = []
            for s in (1.0, -1.0):
                q = pv.copy()
                q[0] += s * 1e-6
                pp = list(p)
                pp[t] = jnp.asarray(q.reshape(p[t].shape))
                outs.append(float(tangent_jit(pp, lj, cj)))
            assert abs(outs[0] - outs[1]) / 2e-6 <= 1e-8, (name, t, "zero head term")
            continue
        picks = {int(np.argmax(np.abs(flat)))}
        picks.update(int(i) for i in rng.integers(0, flat.size, size=2))
        for i in sorted(picks):
            if abs(flat[i]) < 1e-2 * gmax:
                continue  # relative error of a near-zero entry means nothing
            pv = np.asarray(p[t]).ravel()
            h = 1e-4 * max(abs(pv[i]), 1e-1)  # round-off dominates below
            outs = []
            for s in (1.0, -1.0):
                q = pv.copy()
                q[i] += s * h
                pp = list(p)
                pp[t] = jnp.asarray(q.reshape(p[t].shape))
                outs.append(float(tangent_jit(pp, lj, cj)))
            fd = (outs[0] - outs[1]) / (2 * h)
            e_h = max(e_h, rel_err(fd, float(flat[i]), 1e-3 * gmax))
            n_h += 1
    assert e_h <= 1e-5, (name, "fd head_term", e_h)
    worst["fd_head_term"] = e_h
    worst["fd_head_term_entries"] = n_h
    return worst


# ----------------------------------------------------------------- main --
def main():
    # the vectorised PRNG must equal the scalar integer reference
    for seed, t in ((0, 0), (11, 5), (999, 17), (2**40 + 7, 3)):
        ua = u_array(seed, t, 50)
        assert all(ua[i] == u_scalar(seed, t, i) for i in range(50))
    assert splitmix64(0) == 0xE220A8397B1DCDAF  # published splitmix64 value
    out_cases = []
    for ci, (name, preset, k, seed, forced) in enumerate(CASES):
        h1, d, f = PRESETS[preset]
        names, p32, p64 = make_params(seed, k, h1, d, f)
        rng = np.random.default_rng(seed)
        l = np.exp(rng.uniform(math.log(0.01), math.log(20.0), size=k))
        for idx, val in forced.items():
            l[idx] = val
        c = rng.standard_normal(k)
        l = l.astype(np.float32).astype(np.float64)
        c = c.astype(np.float32).astype(np.float64)
        p = [jnp.asarray(a) for a in p64]
        lj, cj = jnp.asarray(l), jnp.asarray(c)

        value, weights = value_and_weights(p, lj)
        tangent, ht = head_term_fn(p, lj, cj)
        value, tangent = float(value), float(tangent)
        weights = np.asarray(weights, dtype=np.float64)
        ht = [np.asarray(g, dtype=np.float64) for g in ht]
        assert all(np.all(np.isfinite(g)) for g in ht) and np.all(np.isfinite(weights))

        checks = check_case(name, p, l, c, value, weights, tangent, ht,
                            np.random.default_rng(seed + 1))

        head_term, params_check = {}, {}
        for t, (pname, g) in enumerate(zip(names, ht)):
            flat = g.ravel()
            n = flat.size
            s = 1 if n <= 4096 else -(-n // 1024)
            head_term[pname] = {
                "shape": list(g.shape),
                "norm": float(np.linalg.norm(flat)),
                "stride": s,
                "values": [float(x) for x in flat[::s]],
                "probe": float(np.dot(flat, u_array(999, t, n))),
            }
            w = p32[t].ravel()
            params_check[pname] = {
                "sum": float(np.sum(w.astype(np.float64))),
                "first": [float(x) for x in w[:4]],
            }
        out_cases.append({
            "name": name, "preset": preset, "h1": h1, "d": d, "f": f,
            "heads": HEADS, "k": k, "seed": seed,
            "losses": [float(x) for x in l],
            "direction": [float(x) for x in c],
            "value": value,
            "weights": [float(x) for x in weights],
            "tangent": tangent,
            "head_term": head_term,
            "params_check": params_check,
            "self_check": checks,
        })
        print(f"{name:22s} K={k} (h1,d,f)=({h1},{d},{f}) value={value:+.6e} "
              f"tangent={tangent:+.6e} |t-w.c|rel={checks['tangent_vs_wc']:.1e} "
              f"rr={checks['jvp_vs_rev_rev']:.1e} fd_w={checks['fd_weights']:.1e} "
              f"fd_ht={checks['fd_head_term']:.1e} ({checks['fd_head_term_entries']} entries)")

        if ci == 0:
            from safetensors.numpy import save_file
            save_file({nm: np.ascontiguousarray(a) for nm, a in zip(names, p32)},
                      os.path.join(HERE, "case0_weights.safetensors"),
                      metadata={"format": "pt", "case": name, "seed": str(seed),
                                "generator": "gen_head_vectors.py"})

    doc = {
        "generator": "gen_head_vectors.py",
        "description": "MELTR head f_phi reference vectors (float64, JAX); "
                       "see the generator's docstring for every formula",
        "versions": {"python": sys.version.split()[0], "jax": jax.__version__,
                     "numpy": np.__version__},
        "cases": out_cases,
    }
    path = os.path.join(HERE, "cases.json")
    with open(path, "w") as fh:
        json.dump(doc, fh, separators=(",", ":"), allow_nan=False)
        fh.write("\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes), {len(out_cases)} cases")


if __name__ == "__main__":
    main()
