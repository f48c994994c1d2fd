#!/usr/bin/env python3
"""Reference vectors for the full AID-FP-Lite hypergradient (JAX, float64).

What this mirrors
-----------------
The meta step of the MELTR reference (PyTorch) code, on a tiny problem that
the Rust side re-implements exactly:

    v          = grad_w L_out(w, phi)                 (regulariser included)
    head_term  = grad_phi [ v . grad_w L_aux(w, phi) ] with v held constant
                 -- the reference code's double backward
                 (torch.autograd.grad(aux_grad, phi, grad_outputs=v)),
                 computed here as reverse-over-reverse in JAX.
    hypergrad_reference = -head_term        (the reference drops the direct term)
    hypergrad_full      = direct - head_term,
    direct     = dL_out/dphi (partial, w fixed)
               = -gamma * sign(sum_k l_B,k - f_B) * grad_phi f_phi(l_B).

The script also checks DESIGN.md section 2's decomposition
    head_term == grad_phi [ c . grad_l f_phi(l_B) ],  c = J_B v = d/de l(w + e v; B)
to 1e-12 (relative L2 per tensor), both against grad-over-jvp of the head
(gen_head_vectors.tangent_fn) and reverse-over-reverse.

Problem (all inputs rounded to float32, everything computed in float64)
-----------------------------------------------------------------------
u(seed, t, i) and the head f_phi are those of ../head/gen_head_vectors.py
(imported from there, not copied): splitmix64-based u in [-1, 1), MELTR
head with 8 attention heads, post-norm encoder layer, eval mode.

Backbone: MLP 4 -> 8 (tanh) -> 3, parameters w flat (P = 67) in the order
    W1 [8,4] row-major (t=0, scale 0.5), b1 [8] (t=1, scale 0.1),
    W2 [3,8] row-major (t=2, scale 0.35), b2 [3] (t=3, scale 0.1),
    element = float32(scale * u(500, t, i)), i = flat index within the tensor.
    h = tanh(x W1^T + b1);  o = h W2^T + b2;   x: [B,4], o: [B,3]
    l_k = mean_b (o[b,k] - y[b,k])^2, k = 0,1,2 (K = 3); task 0 is primary.
Data: batch A (meta batch, index 0) and batch B (training batch, index 1),
    16 rows each: x[r,j] = float32(2 * u(600 + index, 0, 4 r + j)),
    y[r,0] = float32(sin(x0 + x1)), y[r,1] = float32(x2 * x3 * 0.5),
    y[r,2] = float32(cos(x0 - x3)), from that row's float32 x, in float64.
Head: preset allinone (h1 = d = f = 128), K = 3, weights
    gen_head_vectors.make_params(77, 3, 128, 128, 128) (seed 77).
L_out(w, phi) = l_0(w; A) + gamma * |sum_k l_k(w; B) - f_phi(l(w; B))|, gamma = 0.1
L_aux(w, phi) = f_phi(l(w; B))
One-step unrolled (ITD) check, eta = 0.05:
    w' = w - eta grad_w L_aux(w, phi);  g' = grad_w L_out(w', phi)
    unrolled = d/dphi L_out(w - eta grad_w L_aux(w, phi), phi)  (brute-force
    autodiff through the step, direct terms included).
    Identity (checked): unrolled = direct(w') - eta * grad_phi[ g' . grad_w L_aux(w, phi) ]
                                 = direct(w') - eta * grad_phi[ (J_B(w) g') . grad_l f_phi(l_B) ].

Output layout (mlp_aid_fp_lite.json)
------------------------------------
Backbone-sized vectors (67) and K-vectors are stored in full. Head-parameter-
sized results (head_term, direct, hypergrad_reference, hypergrad_full,
unrolled, and the two unrolled components) are stored per tensor under the 18
PyTorch names, as in ../head/cases.json: shape, L2 norm, stride s (1 when the
tensor has <= 4096 elements, else ceil(n / 1024)), "values" = elements at
flat indices 0, s, 2s, ..., and "probe" = sum_i g[i] * u(999, t, i) over ALL
elements (t = tensor index 0..17, u in float64, not rounded).
Known exact zeros (0 or round-off only, ~1e-19): the head-term blocks of
encoder.norm2.bias and of the key rows d:2d of encoder.self_attn.in_proj_bias;
compare with a tolerance scaled by the tensor norm, not purely relative.

Rerun (from the repository root):
    pip install jax==0.10.2 jaxlib==0.10.2 numpy==2.4.6
    python3 tests/reference/hypergrad/gen_hypergrad_vectors.py
Generated with Python 3.11.7, jax/jaxlib 0.10.2, numpy 2.4.6, on CPU.
Self-checks before writing: u vs the scalar integer reference; the
decomposition (1e-12); direct vs jax.grad of L_out w.r.t. phi (1e-12);
central differences of all 67 entries of v against L_out (f64); central
differences of sampled entries of `unrolled`; the ITD identity above (1e-12).
"""
import importlib.util
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
_spec = importlib.util.spec_from_file_location(
    "gen_head_vectors", os.path.join(HERE, "..", "head", "gen_head_vectors.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

K = 3
BATCH = 16
GAMMA = 0.1
ETA = 0.05
W_SEED = 500
DATA_SEED = 600
HEAD_SEED = 77
PROBE_SEED = 999
PRESET = "allinone"
# (name, shape, scale), tensor index t = position
BACKBONE = [("W1", (8, 4), 0.5), ("b1", (8,), 0.1), ("W2", (3, 8), 0.35), ("b2", (3,), 0.1)]
P = sum(int(np.prod(s)) for _, s, _ in BACKBONE)
assert P == 67


# ------------------------------------------------------------- problem ----
def make_w():
    parts = []
    for t, (_, shape, scale) in enumerate(BACKBONE):
        n = int(np.prod(shape))
        parts.append((scale * H.u_array(W_SEED, t, n)).astype(np.float32))
    return np.concatenate(parts)


def make_batch(index):
    x = (2.0 * H.u_array(DATA_SEED + index, 0, BATCH * 4)).astype(np.float32).reshape(BATCH, 4)
    x64 = x.astype(np.float64)
    y = np.stack([
        np.sin(x64[:, 0] + x64[:, 1]),
        x64[:, 2] * x64[:, 3] * 0.5,
        np.cos(x64[:, 0] - x64[:, 3]),
    ], axis=1).astype(np.float32)
    return x, y


def unflatten(w):
    return (w[0:32].reshape(8, 4), w[32:40], w[40:64].reshape(3, 8), w[64:67])


def losses(w, x, y):
    w1, b1, w2, b2 = unflatten(w)
    h = jnp.tanh(x @ w1.T + b1)
    o = h @ w2.T + b2
    return jnp.mean((o - y) ** 2, axis=0)  # [K]


# ------------------------------------------------------------- helpers ----
def per_tensor(g_list):
    out = {}
    for t, (name, g) in enumerate(zip(NAMES, g_list)):
        flat = np.asarray(g, dtype=np.float64).ravel()
        n = flat.size
        s = 1 if n <= 4096 else -(-n // 1024)
        out[name] = {
            "shape": list(np.shape(g)),
            "norm": float(np.linalg.norm(flat)),
            "stride": s,
            "values": [float(z) for z in flat[::s]],
            "probe": float(np.dot(flat, H.u_array(PROBE_SEED, t, n))),
        }
    return out


def tree_norm(g_list):
    return float(math.sqrt(sum(float(np.sum(np.asarray(g) ** 2)) for g in g_list)))


def rel_l2_per_tensor(a_list, b_list):
    """max over tensors of |a-b| / |b|, where |b| is not round-off (see docstring)."""
    worst = 0.0
    scale = tree_norm(b_list)
    for a, b in zip(a_list, b_list):
        a, b = np.asarray(a), np.asarray(b)
        nb = float(np.linalg.norm(b))
        diff = float(np.linalg.norm(a - b))
        worst = max(worst, diff / max(nb, 1e-9 * scale))
    return worst


def vec(x):
    return [float(z) for z in np.asarray(x, dtype=np.float64).ravel()]


# ---------------------------------------------------------------- main ----
def main():
    global NAMES
    for seed, t in ((0, 0), (W_SEED, 3), (DATA_SEED + 1, 0), (PROBE_SEED, 17)):
        ua = H.u_array(seed, t, 70)
        assert all(ua[i] == H.u_scalar(seed, t, i) for i in range(70))

    w32 = make_w()
    xa32, ya32 = make_batch(0)
    xb32, yb32 = make_batch(1)
    h1, d, f = H.PRESETS[PRESET]
    NAMES, p32, p64 = H.make_params(HEAD_SEED, K, h1, d, f)
    phi = [jnp.asarray(a) for a in p64]
    w = jnp.asarray(w32.astype(np.float64))
    xa, ya = jnp.asarray(xa32.astype(np.float64)), jnp.asarray(ya32.astype(np.float64))
    xb, yb = jnp.asarray(xb32.astype(np.float64)), jnp.asarray(yb32.astype(np.float64))

    def l_out(w_, p_):
        lb = losses(w_, xb, yb)
        return losses(w_, xa, ya)[0] + GAMMA * jnp.abs(jnp.sum(lb) - H.head(p_, lb))

    def l_aux(w_, p_):
        return H.head(p_, losses(w_, xb, yb))

    grad_w_out = jax.jit(jax.grad(l_out, argnums=0))
    grad_w_aux = jax.jit(jax.grad(l_aux, argnums=0))
    l_out_j = jax.jit(l_out)

    # -- forward quantities
    l_a = np.asarray(losses(w, xa, ya))
    l_b = np.asarray(losses(w, xb, yb))
    f_b, a_b = H.value_and_weights(phi, jnp.asarray(l_b))
    f_b, a_b = float(f_b), np.asarray(a_b)
    reg_arg = float(np.sum(l_b) - f_b)
    reg_sign = float(np.sign(reg_arg))
    lout_val = float(l_out_j(w, phi))
    laux_val = float(l_aux(w, phi))
    assert abs(laux_val - f_b) <= 1e-12 * max(1.0, abs(f_b))

    # -- v, c
    v = np.asarray(grad_w_out(w, phi))
    vj = jnp.asarray(v)
    _, c = jax.jvp(lambda ww: losses(ww, xb, yb), (w,), (vj,))
    c = np.asarray(c)
    jac_b = np.asarray(jax.jacrev(losses)(w, xb, yb))  # [K, P]
    jac_a = np.asarray(jax.jacrev(losses)(w, xa, ya))
    assert np.max(np.abs(jac_b @ v - c)) <= 1e-13 * max(1.0, np.max(np.abs(c)))
    g_aux = np.asarray(grad_w_aux(w, phi))
    assert np.max(np.abs(jac_b.T @ a_b - g_aux)) <= 1e-13 * max(1.0, np.max(np.abs(g_aux)))
    # v = J_A^T e_0 + gamma * sign * J_B^T (1 - a_B)
    v_pieces = jac_a[0] + GAMMA * reg_sign * jac_b.T @ (1.0 - a_b)
    assert np.max(np.abs(v_pieces - v)) <= 1e-13 * max(1.0, np.max(np.abs(v)))

    # -- head term, the reference code's way: double backward with v constant
    def vdot_aux_grad(p_, w_, v_):
        return jnp.vdot(jax.lax.stop_gradient(v_), jax.grad(l_aux, argnums=0)(w_, p_))

    head_term_rr = jax.jit(jax.grad(vdot_aux_grad, argnums=0))
    head_term = [np.asarray(g) for g in head_term_rr(phi, w, vj)]

    # -- decomposition: grad_phi [ c . grad_l f_phi(l_B) ]
    dec_jvp = [np.asarray(g) for g in
               jax.grad(H.tangent_fn, argnums=0)(phi, jnp.asarray(l_b), jnp.asarray(c))]
    dec_rr = [np.asarray(g) for g in H.head_term_rr(phi, jnp.asarray(l_b), jnp.asarray(c))]
    e_dec_jvp = rel_l2_per_tensor(dec_jvp, head_term)
    e_dec_rr = rel_l2_per_tensor(dec_rr, head_term)
    assert e_dec_jvp <= 1e-12 and e_dec_rr <= 1e-12, (e_dec_jvp, e_dec_rr)
    tangent = float(H.tangent_jit(phi, jnp.asarray(l_b), jnp.asarray(c)))
    assert abs(tangent - float(np.dot(a_b, c))) <= 1e-12 * max(1.0, abs(tangent))

    # -- direct term
    grad_phi_f = [np.asarray(g) for g in jax.grad(H.head, argnums=0)(phi, jnp.asarray(l_b))]
    direct = [-GAMMA * reg_sign * g for g in grad_phi_f]
    direct_ad = [np.asarray(g) for g in jax.grad(l_out, argnums=1)(w, phi)]
    e_direct = rel_l2_per_tensor(direct, direct_ad)
    assert e_direct <= 1e-12, e_direct
    hg_ref = [-g for g in head_term]
    hg_full = [a - b for a, b in zip(direct, head_term)]

    # -- one-step unrolled
    def l_unrolled(p_):
        return l_out(w - ETA * jax.grad(l_aux, argnums=0)(w, p_), p_)

    l_unrolled_j = jax.jit(l_unrolled)
    w_prime = np.asarray(w - ETA * jnp.asarray(g_aux))
    wpj = jnp.asarray(w_prime)
    g_prime = np.asarray(grad_w_out(wpj, phi))
    unrolled = [np.asarray(g) for g in jax.jit(jax.grad(l_unrolled))(phi)]
    lout_prime = float(l_out_j(wpj, phi))
    assert abs(float(l_unrolled_j(phi)) - lout_prime) <= 1e-13 * max(1.0, abs(lout_prime))
    # identity: unrolled = direct(w') - eta * grad_phi[(J_B(w) g') . grad_l f(l_B)]
    l_b_prime = np.asarray(losses(wpj, xb, yb))
    f_b_prime = float(H.head(phi, jnp.asarray(l_b_prime)))
    reg_sign_prime = float(np.sign(np.sum(l_b_prime) - f_b_prime))
    direct_prime = [np.asarray(g) for g in jax.grad(l_out, argnums=1)(wpj, phi)]
    c_prime = jac_b @ g_prime
    head_term_prime = [np.asarray(g) for g in
                       jax.grad(H.tangent_fn, argnums=0)(phi, jnp.asarray(l_b), jnp.asarray(c_prime))]
    unrolled_pieces = [a - ETA * b for a, b in zip(direct_prime, head_term_prime)]
    e_itd = rel_l2_per_tensor(unrolled_pieces, unrolled)
    assert e_itd <= 1e-12, e_itd

    # -- finite differences of v against L_out (all 67 entries, f64)
    w64 = np.asarray(w)
    e_fd_v = 0.0
    vmax = float(np.max(np.abs(v)))
    for i in range(P):
        hstep = 1e-5 * max(abs(w64[i]), 0.1)  # 1e-6: round-off on small entries
        wp, wm = w64.copy(), w64.copy()
        wp[i] += hstep
        wm[i] -= hstep
        fd = (float(l_out_j(jnp.asarray(wp), phi)) - float(l_out_j(jnp.asarray(wm), phi))) / (2 * hstep)
        e_fd_v = max(e_fd_v, abs(fd - v[i]) / max(abs(v[i]), 1e-3 * vmax))
    assert e_fd_v <= 1e-6, e_fd_v

    # -- finite differences of sampled entries of `unrolled`
    rng = np.random.default_rng(2024)
    umax_all = max(float(np.max(np.abs(g))) for g in unrolled)
    fd_unrolled = []
    for t in [0, 1, 3, 5, 6, 9, 11, 13, 15, 17]:
        flat = unrolled[t].ravel()
        gmax = float(np.max(np.abs(flat)))
        picks = [int(np.argmax(np.abs(flat))), int(rng.integers(0, flat.size))]
        for i in picks:
            if abs(flat[i]) < 1e-2 * gmax:
                continue
            pv = np.asarray(phi[t]).ravel()
            hstep = 1e-5 * max(abs(pv[i]), 0.1)
            outs = []
            for s in (1.0, -1.0):
                q = pv.copy()
                q[i] += s * hstep
                pp = list(phi)
                pp[t] = jnp.asarray(q.reshape(phi[t].shape))
                outs.append(float(l_unrolled_j(pp)))
            fd = (outs[0] - outs[1]) / (2 * hstep)
            err = abs(fd - flat[i]) / max(abs(flat[i]), 1e-3 * umax_all)
            fd_unrolled.append({"tensor": NAMES[t], "index": i, "autodiff": float(flat[i]),
                                "fd": fd, "rel_err": err})
    e_fd_u = max(r["rel_err"] for r in fd_unrolled)
    assert e_fd_u <= 1e-6, e_fd_u

    checks = {
        "decomposition_grad_over_jvp_rel_l2": e_dec_jvp,
        "decomposition_rev_over_rev_rel_l2": e_dec_rr,
        "direct_vs_autodiff_rel_l2": e_direct,
        "fd_v_max_rel_err": e_fd_v,
        "fd_v_entries": P,
        "fd_unrolled_max_rel_err": e_fd_u,
        "fd_unrolled_entries": fd_unrolled,
        "itd_identity_rel_l2": e_itd,
    }

    params_check = {}
    for t, name in enumerate(NAMES):
        a = p32[t].ravel()
        params_check[name] = {"sum": float(np.sum(a.astype(np.float64))),
                              "first": [float(z) for z in a[:4]]}

    doc = {
        "generator": "gen_hypergrad_vectors.py",
        "description": "AID-FP-Lite hypergradient of the MELTR head on a 4-8-3 tanh MLP "
                       "(float64, JAX, double backward); see the generator's docstring",
        "versions": {"python": sys.version.split()[0], "jax": jax.__version__,
                     "numpy": np.__version__},
        "scalars": {
            "K": K, "batch": BATCH, "P": P, "gamma": GAMMA, "eta": ETA,
            "w_seed": W_SEED, "data_seed": DATA_SEED, "head_seed": HEAD_SEED,
            "probe_seed": PROBE_SEED, "head_preset": PRESET, "h1": h1, "d": d, "f": f,
            "heads": H.HEADS, "ln_eps": H.LN_EPS, "primary_task": 0,
            "backbone_layout": [{"name": n, "shape": list(s), "scale": sc, "t": t}
                                for t, (n, s, sc) in enumerate(BACKBONE)],
        },
        "w": vec(w32),
        "batch_a": {"x": [vec(r) for r in xa32], "y": [vec(r) for r in ya32]},
        "batch_b": {"x": [vec(r) for r in xb32], "y": [vec(r) for r in yb32]},
        "head_params_check": params_check,
        "l_a": vec(l_a),
        "l_b": vec(l_b),
        "f_b": f_b,
        "a_b": vec(a_b),
        "reg_arg": reg_arg,
        "reg_sign": reg_sign,
        "l_out": lout_val,
        "l_aux": laux_val,
        "grad_w_l_aux": vec(g_aux),
        "jac_a": [vec(r) for r in jac_a],
        "jac_b": [vec(r) for r in jac_b],
        "v": vec(v),
        "v_norm": float(np.linalg.norm(v)),
        "c": vec(c),
        "tangent": tangent,
        "head_term_norm": tree_norm(head_term),
        "direct_norm": tree_norm(direct),
        "head_term": per_tensor(head_term),
        "direct": per_tensor(direct),
        "hypergrad_reference": per_tensor(hg_ref),
        "hypergrad_full": per_tensor(hg_full),
        "unrolled_step": {
            "w_prime": vec(w_prime),
            "g_prime": vec(g_prime),
            "l_out_prime": lout_prime,
            "l_b_prime": vec(l_b_prime),
            "f_b_prime": f_b_prime,
            "reg_sign_prime": reg_sign_prime,
            "c_prime": vec(c_prime),
            "unrolled_norm": tree_norm(unrolled),
            "unrolled": per_tensor(unrolled),
        },
        "self_check": checks,
    }
    path = os.path.join(HERE, "mlp_aid_fp_lite.json")
    with open(path, "w") as fh:
        json.dump(doc, fh, separators=(",", ":"), allow_nan=False)
        fh.write("\n")

    print(f"l_A = {l_a}\nl_B = {l_b}\nf_B = {f_b:+.12e}  a_B = {a_b}")
    print(f"sum l_B - f_B = {reg_arg:+.6e}  sign = {reg_sign:+.0f}  L_out = {lout_val:.12e}")
    print(f"|v| = {np.linalg.norm(v):.12e}  c = {c}")
    print(f"|head_term| = {tree_norm(head_term):.12e}  |direct| = {tree_norm(direct):.12e}  "
          f"|hg_full| = {tree_norm(hg_full):.12e}  |unrolled| = {tree_norm(unrolled):.12e}")
    print(f"sign' = {reg_sign_prime:+.0f} (sum l_B' - f_B' = {np.sum(l_b_prime) - f_b_prime:+.3e})")
    print("checks:", {k_: v_ for k_, v_ in checks.items() if k_ != "fd_unrolled_entries"})
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
