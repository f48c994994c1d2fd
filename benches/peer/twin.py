#!/usr/bin/env python3
"""A JAX "peer twin" of meltr's models, for timing and memory comparisons.

Same architectures, sizes and task losses as meltr (float32, CPU, jit):

* the MELTR head (src/head/network.rs, presets in src/head/preset.rs;
  the structure of tests/reference/head/gen_head_vectors.py, in float32);
* the video-text backbone (src/domains/video_text/{model,net}.rs: text,
  video and cross encoder layers, width (D_MODEL) 32 by default or --width,
  2 heads, FF 2 x width) with its five
  tasks (plugins/{align,cmlm,cmfm,mixup,rotation});
* the digits ResNet (src/domains/digits/{model,net}.rs, width 16, 2 blocks)
  with classify, rotation, mixup (classes) and masked_pixels.

Inputs are random with the world's shapes (the values do not matter for
timing). Nothing is downloaded. The second-order terms are computed the
reference way, by double backward (jax.grad over jax.grad), not by meltr's
first-order route (docs/design.md section 2).

Each invocation makes ONE measurement and prints ONE JSON line on stdout:

    {"measure": ..., "params": {...}, "ms": mean ms per call after warm-up,
     "reps": N, "peak_rss_mb": peak RSS of this process (ru_maxrss), ...}

Extra keys: median_ms, min_ms, cpu_ms (process CPU time per call: cpu_ms /
ms is the parallelism the call actually used), compile_s, import_rss_mb
(RSS once jax is imported), run_peak_rss_mb (peak RSS over the timed calls
only: after warm-up, freed heap is returned to the OS with malloc_trim and
VmHWM is reset through /proc/self/clear_refs; null where the kernel
refuses), n_params, compile_s, threads, xla_flags, jax.

Usage (see --help of each subcommand):

    python3 benches/peer/twin.py head --preset univl --k 8 --what head_term --reps 200
    python3 benches/peer/twin.py step --backbone video_text --batch 32 --reps 20
    python3 benches/peer/twin.py meltr_step --backbone video_text --batch 32 --reps 20
    python3 benches/peer/twin.py meta --backbone video_text --batch 32 --k 5 --reps 10
    python3 benches/peer/twin.py check          # correctness checks, no timing

Threads: --threads 1 (the default) sets
XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
before jax is imported AND pins the process to one core (the first it may
use) with sched_setaffinity: with the flags alone, jaxlib 0.10.2's CPU
runtime still ran work on several threads (process CPU time 1.4-1.7x the
wall time), pinned it is 1.0x. --threads all leaves XLA's default (its
intra-op thread pool sized to the cores the process may run on);
--threads N (N > 1) restricts the process to N cores and otherwise keeps
XLA's default. cpu_ms / ms in the output shows the parallelism a call
actually used. See benches/peer/README.md for why 1 is the default.
"""
import argparse
import json
import math
import os
import resource
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REF_DIR = os.path.join(ROOT, "tests", "reference", "head")

ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def configure_threads(spec):
    """Must run before jax is imported. Returns the description recorded."""
    os.environ["JAX_PLATFORMS"] = "cpu"  # force the CPU backend
    flags = os.environ.get("XLA_FLAGS", "")
    if spec == "1":
        # The flags alone do not make this XLA single-threaded (its thunk
        # runtime runs independent ops, XNNPACK and fusion loops on an
        # intra-op pool sized by the cores the process may use): pin too.
        flags = (flags + " " + ONE_THREAD_FLAGS).strip()
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:1])
    elif spec == "all":
        pass
    else:
        n = int(spec)
        if n < 1:
            raise SystemExit("--threads: 1, all, or a positive number of cores")
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, cpus[:n])
    if flags:
        os.environ["XLA_FLAGS"] = flags
    return flags


# ------------------------------------------------------------- constants --
# Head (src/head/preset.rs)
HEAD_HEADS = 8
LN_EPS = 1e-5
PRESETS = {  # name: (h1, d, f), reference K
    "allinone": ((128, 128, 128), 2),
    "violet": ((256, 512, 512), 3),
    "univl": ((128, 256, 512), 8),
    "paper": ((128, 512, 512), 8),
}
MAX_TASKS = 16

# Video-text backbone (src/domains/video_text/{mod,model}.rs, world/*.rs);
# the width is meltr's `width` setting (--width sets these three).
D_MODEL = 32
VT_HEADS = 2
HEAD_DIM = D_MODEL // VT_HEADS
FF_WIDTH = 2 * D_MODEL
ROTATIONS = 4
MAX_TOKENS = 20
VOCAB_SIZE = 80
PAD, MASK, UNK = 0, 1, 2
FRAMES = 8
CHANNELS = 3
SIDE = 16
FRAME_LEN = CHANNELS * SIDE * SIDE  # 768
CROSS_LEN = MAX_TOKENS + FRAMES  # 28
VT_TASKS = ["align", "cmlm", "cmfm", "mixup", "rotation"]  # quick.toml order

# Digits backbone (src/domains/digits/{mod,model}.rs)
DG_SIDE = 8
DG_PIXELS = DG_SIDE * DG_SIDE
DG_CLASSES = 10
DG_WIDTH = 16
DG_BLOCKS = 2
DG_TASKS = ["classify", "rotation", "mixup", "masked_pixels"]  # digits.toml order

# Run settings (src/train/presets/quick.toml, digits.toml)
BACKBONE_LR = {"video_text": 5e-4, "digits": 5e-3}
DEFAULT_BATCH = {"video_text": 32, "digits": 20}
HEAD_PRESET = {"video_text": "univl", "digits": "allinone"}
META = dict(gamma=0.1, lr=1e-3, weight_decay=3e-5, clip=50.0)


# ==================================================================== main
def main(argv=None):
    ap = argparse.ArgumentParser(
        description="JAX float32 peer twin of meltr: one measurement per "
                    "invocation, one JSON line on stdout")
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p, reps):
        p.add_argument("--reps", type=int, default=reps,
                       help=f"timed calls after warm-up (default {reps})")
        p.add_argument("--warmup", type=int, default=3,
                       help="untimed calls after compilation (default 3)")
        p.add_argument("--threads", default="1",
                       help="1 (default): single-threaded XLA; all: XLA's "
                            "default thread pool; N: pin to N cores")
        p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser("head", help="the MELTR head alone")
    p.add_argument("--preset", choices=sorted(PRESETS), default="univl")
    p.add_argument("--k", type=int, default=None,
                   help="number of losses (default: the preset's reference K)")
    p.add_argument("--what", default="head_term",
                   choices=["forward", "value_weights", "head_term", "meta_update"],
                   help="forward: f(l); value_weights: f and grad_l f; "
                        "head_term: d/dphi <grad_l f, c> by double backward; "
                        "meta_update: head term + the regulariser's direct "
                        "term, clip, Adam (as meltr bench head's meta_update)")
    common(p, 200)

    for name, reps, helptext in (
            ("step", 20, "a plain multi-task step: sum of the K losses, "
                         "backward, Adam"),
            ("meltr_step", 20, "a MELTR step: K losses, head value and "
                               "grad_l f, backward of f(l(w)), Adam"),
            ("meta", 10, "an AID-FP-Lite meta step by double backward "
                         "through the backbone, clip, Adam on the head")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--backbone", choices=["video_text", "digits"],
                       default="video_text")
        p.add_argument("--batch", type=int, default=None,
                       help="batch size (default: 32 video_text, 20 digits)")
        p.add_argument("--k", type=int, default=None,
                       help="number of tasks: the first K of the run's task "
                            "list (default: all; video_text 5, digits 4)")
        p.add_argument("--width", type=int, default=None,
                       help=f"the backbone's `width` setting: digits, channels "
                            f"of every feature map (default {DG_WIDTH}); "
                            f"video_text, d_model, a multiple of {VT_HEADS} "
                            f"(default {D_MODEL}; feed-forward 2 x width)")
        if name != "step":
            p.add_argument("--head-preset", choices=sorted(PRESETS), default=None,
                           help="head size (default: univl for video_text, "
                                "allinone for digits)")
        if name == "meta":
            p.add_argument("--reg-batch", choices=["train", "meta"], default="train",
                           help="batch of the regulariser gamma|sum l - f(l)| in "
                                "L_out: train (default, as meltr's problem.rs: "
                                "the K losses of the training batch) or meta "
                                "(all K losses on the meta batch)")
            p.add_argument("--no-direct", action="store_true",
                           help="drop the regulariser's direct term dL_out/dphi "
                                "(meltr's reference_compat)")
        common(p, reps)

    p = sub.add_parser("check", help="correctness checks of the twin (no timing)")
    p.add_argument("--threads", default="1")
    p.add_argument("--seed", type=int, default=0)

    args = ap.parse_args(argv)
    flags = configure_threads(args.threads)
    t0 = time.perf_counter()
    g = load_jax(x64=(args.cmd == "check"))
    import_s = time.perf_counter() - t0
    import_rss = rss_mb()
    if args.cmd == "check":
        ok = run_checks(g, args)
        return 0 if ok else 1
    if args.cmd == "head":
        result = measure_head(g, args)
    else:
        result = measure_backbone(g, args)
    result.update({
        "threads": args.threads,
        "xla_flags": flags,
        "jax": g["jax"].__version__,
        "import_s": round(import_s, 3),
        "import_rss_mb": round(import_rss, 1),
        "cpus": sorted(os.sched_getaffinity(0)),
        "os_threads": os_threads(),
        "peak_rss_mb": round(rss_mb(), 1),
    })
    print(json.dumps(result, sort_keys=False))
    return 0


def load_jax(x64=False):
    import jax
    if x64:
        jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    return {"jax": jax, "jnp": jnp, "np": np}


def os_threads():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def release_free_memory():
    """Returns freed heap pages (e.g. the compiler's) to the OS, so that the
    RSS measured over the timed calls is what the computation keeps live."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss():
    """Resets VmHWM (Linux >= 4.0); False where not allowed."""
    release_free_memory()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def vm_hwm_mb():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def time_calls(g, call, reps, warmup):
    """call() -> outputs (a pytree); runs warm-up then reps timed calls,
    block_until_ready on each. Returns timing statistics."""
    jax = g["jax"]
    if reps < 1:
        raise SystemExit("--reps: at least one")
    t = time.perf_counter()
    jax.block_until_ready(call())  # compiles (unless compiled before) and runs
    first_s = time.perf_counter() - t
    for _ in range(warmup):
        jax.block_until_ready(call())
    hwm_ok = reset_peak_rss()
    times = []
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(call())
        times.append((time.perf_counter() - t) * 1e3)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    times_sorted = sorted(times)
    hwm = vm_hwm_mb() if hwm_ok else None
    return {
        "ms": sum(times) / reps,
        "median_ms": times_sorted[reps // 2],
        "min_ms": times_sorted[0],
        "cpu_ms": cpu_s * 1e3 / reps,
        "first_call_s": round(first_s, 3),
        "run_peak_rss_mb": None if hwm is None else round(hwm, 1),
    }


def finish(measure, params, stats, reps, extra=None):
    out = {"measure": measure, "params": params}
    out["ms"] = round(stats["ms"], 4)
    out["reps"] = reps
    for k in ("median_ms", "min_ms", "cpu_ms"):
        out[k] = round(stats[k], 4)
    for k in ("first_call_s", "run_peak_rss_mb"):
        out[k] = stats[k]
    if extra:
        out.update(extra)
    return out


# ==================================================================== head
HEAD_NAMES = [
    "task_embedding.weight", "loss_fc1.weight", "loss_fc1.bias",
    "loss_fc2.weight", "loss_fc2.bias",
    "encoder.self_attn.in_proj_weight", "encoder.self_attn.in_proj_bias",
    "encoder.self_attn.out_proj.weight", "encoder.self_attn.out_proj.bias",
    "encoder.linear1.weight", "encoder.linear1.bias",
    "encoder.linear2.weight", "encoder.linear2.bias",
    "encoder.norm1.weight", "encoder.norm1.bias",
    "encoder.norm2.weight", "encoder.norm2.bias", "fc1.weight",
]


def head_shapes(k, h1, d, f):
    return [(k, d), (h1, 1), (h1,), (d, h1), (d,), (3 * d, d), (3 * d,),
            (d, d), (d,), (f, d), (f,), (d, f), (d,), (d,), (d,), (d,), (d,),
            (1, d)]


def head_init(np, k, h1, d, f, seed):
    """As src/head/init.rs (PyTorch's initialisation), drawn with numpy."""
    rng = np.random.default_rng(seed)

    def u(shape, bound):
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    xavier = math.sqrt(6.0 / (d + 3 * d))
    isq = lambda n: 1.0 / math.sqrt(n)  # noqa: E731
    return [
        rng.standard_normal((k, d)).astype(np.float32),
        u((h1, 1), 1.0), u((h1,), 1.0),
        u((d, h1), isq(h1)), u((d,), isq(h1)),
        u((3 * d, d), xavier), np.zeros(3 * d, np.float32),
        u((d, d), isq(d)), np.zeros(d, np.float32),
        u((f, d), isq(d)), u((f,), isq(d)),
        u((d, f), isq(f)), u((d,), isq(f)),
        np.ones(d, np.float32), np.zeros(d, np.float32),
        np.ones(d, np.float32), np.zeros(d, np.float32),
        u((1, d), isq(d)),
    ]


def make_head_fn(g):
    """f_phi(l): the reference module (gen_head_vectors.py's `head`)."""
    jax, jnp = g["jax"], g["jnp"]

    def layer_norm(x, w, b):
        mu = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean((x - mu) ** 2, axis=-1, keepdims=True)
        return (x - mu) / jnp.sqrt(var + LN_EPS) * w + b

    def head(p, l):
        (emb, w1, b1, w2, b2, win, bin_, wo, bo, wl1, bl1, wl2, bl2,
         n1w, n1b, n2w, n2b, wfc) = p
        k, d = emb.shape
        dh = d // HEAD_HEADS
        x = jax.nn.relu(l[:, None] @ w1.T + b1) @ w2.T + b2 + emb  # [K, d]
        q = x @ win[0:d].T + bin_[0:d]
        kk = x @ win[d:2 * d].T + bin_[d:2 * d]
        v = x @ win[2 * d:3 * d].T + bin_[2 * d:3 * d]
        qh = q.reshape(k, HEAD_HEADS, dh).transpose(1, 0, 2)  # [H, K, dh]
        kh = kk.reshape(k, HEAD_HEADS, dh).transpose(1, 0, 2)
        vh = v.reshape(k, HEAD_HEADS, dh).transpose(1, 0, 2)
        a = jax.nn.softmax(qh @ kh.transpose(0, 2, 1) / math.sqrt(dh), axis=-1)
        o = (a @ vh).transpose(1, 0, 2).reshape(k, d)
        x = layer_norm(x + (o @ wo.T + bo), n1w, n1b)
        x = layer_norm(x + (jax.nn.relu(x @ wl1.T + bl1) @ wl2.T + bl2), n2w, n2b)
        return (jnp.mean(x, axis=0) @ wfc.T)[0]

    return head


def make_head_ops(g, head):
    """The jitted head operations (reference way: double backward)."""
    jax, jnp = g["jax"], g["jnp"]
    weights = jax.grad(head, argnums=1)

    def mixed(p, l, c):  # <grad_l f_phi(l), c>
        return jnp.vdot(weights(p, l), c)

    head_term = jax.grad(mixed, argnums=0)  # d/dphi <grad_l f, c>: grad over grad
    return {
        "forward": jax.jit(head),
        "value_weights": jax.jit(jax.value_and_grad(head, argnums=1)),
        "head_term": jax.jit(head_term),
        "mixed": jax.jit(mixed),
    }


# ----------------------------------------------------- Adam, clipping ----
def adam_init(g, params):
    jax, jnp = g["jax"], g["jnp"]
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return {"m": zeros, "v": jax.tree_util.tree_map(jnp.zeros_like, params),
            "t": jnp.zeros((), jnp.float32)}


def adam_update(g, params, grads, state, lr, weight_decay=0.0,
                b1=0.9, b2=0.999, eps=1e-8):
    """src/tensor/adam.rs: L2 weight decay in the gradient (torch.optim.Adam)."""
    jax, jnp = g["jax"], g["jnp"]
    tm = jax.tree_util.tree_map
    t = state["t"] + 1.0
    if weight_decay:
        grads = tm(lambda gr, p: gr + weight_decay * p, grads, params)
    m = tm(lambda m, gr: b1 * m + (1 - b1) * gr, state["m"], grads)
    v = tm(lambda v, gr: b2 * v + (1 - b2) * gr * gr, state["v"], grads)
    bc1 = 1 - b1 ** t
    bc2 = 1 - b2 ** t
    params = tm(lambda p, m, v: p - lr * (m / bc1) / (jnp.sqrt(v / bc2) + eps),
                params, m, v)
    return params, {"m": m, "v": v, "t": t}


def global_norm(g, tree):
    jax, jnp = g["jax"], g["jnp"]
    return jnp.sqrt(sum(jnp.sum(x * x) for x in jax.tree_util.tree_leaves(tree)))


def clip_global_norm(g, tree, max_norm):
    jax, jnp = g["jax"], g["jnp"]
    n = global_norm(g, tree)
    scale = jnp.where(n > max_norm, max_norm / n, 1.0)
    return jax.tree_util.tree_map(lambda x: x * scale, tree), n


def measure_head(g, args):
    jax, jnp, np = g["jax"], g["jnp"], g["np"]
    (h1, d, f), ref_k = PRESETS[args.preset]
    k = args.k or ref_k
    if not 1 <= k <= MAX_TASKS:
        raise SystemExit(f"--k: 1..{MAX_TASKS}")
    head = make_head_fn(g)
    ops = make_head_ops(g, head)
    p = [jnp.asarray(a) for a in head_init(np, k, h1, d, f, args.seed)]
    # The losses and direction meltr bench head uses.
    l = jnp.asarray([0.3 + i for i in range(k)], jnp.float32)
    c = jnp.asarray([1.0 - 0.2 * i for i in range(k)], jnp.float32)
    n_params = sum(int(np.prod(a.shape)) for a in p)
    what = args.what
    t = time.perf_counter()
    if what in ("forward", "value_weights"):
        fn = ops[what].lower(p, l).compile()
        call = lambda: fn(p, l)  # noqa: E731
    elif what == "head_term":
        fn = ops["head_term"].lower(p, l, c).compile()
        call = lambda: fn(p, l, c)  # noqa: E731
    else:  # meta_update: as meltr bench head (head term, direct term, clip, Adam)
        gamma = META["gamma"]

        def update(p, s, l, c):
            def obj(p):  # hypergradient = -d/dphi <a, c> + d/dphi (-gamma f)
                return -jnp.vdot(jax.grad(head, argnums=1)(p, l), c) - gamma * head(p, l)
            gr = jax.grad(obj)(p)
            gr, n = clip_global_norm(g, gr, META["clip"])
            p, s = adam_update(g, p, gr, s, META["lr"], META["weight_decay"])
            return p, s, n

        state = {"p": p, "s": adam_init(g, p)}
        fn = jax.jit(update, donate_argnums=(0, 1)).lower(state["p"], state["s"], l, c).compile()

        def call():
            state["p"], state["s"], n = fn(state["p"], state["s"], l, c)
            return n
    compile_s = time.perf_counter() - t
    stats = time_calls(g, call, args.reps, args.warmup)
    params = {"preset": args.preset, "k": k, "what": what, "h1": h1, "d": d, "f": f}
    return finish(f"head.{what}", params, stats, args.reps,
                  {"n_params": n_params, "compile_s": round(compile_s, 3)})


# ============================================================ video_text
def vt_layout(mlm=True, frame=True, rotation=True):
    """BackboneConfig::layout (src/domains/video_text/model.rs)."""
    d = D_MODEL
    out = []

    def linear(name, i, o):
        out.append((f"{name}.weight", (o, i)))
        out.append((f"{name}.bias", (o,)))

    def layer(name):
        for p in ("q", "k", "v", "out"):
            linear(f"{name}.attn.{p}", d, d)
        out.append((f"{name}.norm1.weight", (d,)))
        out.append((f"{name}.norm1.bias", (d,)))
        linear(f"{name}.ff1", d, FF_WIDTH)
        linear(f"{name}.ff2", FF_WIDTH, d)
        out.append((f"{name}.norm2.weight", (d,)))
        out.append((f"{name}.norm2.bias", (d,)))

    out.append(("text.token_embedding", (VOCAB_SIZE, d)))
    out.append(("text.position_embedding", (MAX_TOKENS, d)))
    layer("text.layer")
    linear("video.frame_embedding", FRAME_LEN, d)
    out.append(("video.position_embedding", (FRAMES, d)))
    out.append(("video.mask_embedding", (d,)))
    layer("video.layer")
    out.append(("cross.type_embedding", (2, d)))
    layer("cross.layer")
    linear("align.text_proj", d, d)
    linear("align.video_proj", d, d)
    if mlm:
        linear("heads.mlm", d, VOCAB_SIZE)
    if frame:
        linear("heads.frame", d, d)
    if rotation:
        linear("heads.rotation", d, ROTATIONS)
    return out


def vt_init(np, seed):
    """VideoText::with_device's rules (values drawn with numpy)."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in vt_layout():
        if name.endswith("norm1.weight") or name.endswith("norm2.weight"):
            v = np.ones(shape, np.float32)
        elif name.endswith(".bias"):
            v = np.zeros(shape, np.float32)
        elif name.endswith("embedding"):
            v = rng.uniform(-0.1, 0.1, size=shape)
        else:
            b = 1.0 / math.sqrt(shape[1])
            v = rng.uniform(-b, b, size=shape)
        params[name] = np.asarray(v, np.float32)
    return params


def rotation_perms(np, side):
    """perm[q][i]: source pixel of destination pixel i after q quarter turns
    counter-clockwise (np.rot90 == meltr's rotate_plane, src/backbone/batch.rs)."""
    idx = np.arange(side * side).reshape(side, side)
    return np.stack([np.rot90(idx, q).reshape(-1) for q in range(4)]).astype(np.int32)


def vt_batch(np, b, seed):
    """One batch with the world's shapes and each task's randomness drawn
    as the plugins draw it (rates, at-least-one rules), fixed per process."""
    rng = np.random.default_rng(seed)
    tokens = np.zeros((b, MAX_TOKENS), np.int32)
    for i in range(b):  # captions of 6..16 words (the grammar's range, roughly)
        n = int(rng.integers(6, 17))
        tokens[i, :n] = rng.integers(3, VOCAB_SIZE, size=n)
    clips = rng.uniform(0, 1, size=(b, FRAMES, CHANNELS, SIDE, SIDE)).astype(np.float32)
    # cmlm: each non-pad token masked with p = 0.15, at least one per caption.
    masked = tokens.copy()
    rows, targets = [], []
    for i in range(b):
        words = [j for j in range(MAX_TOKENS) if tokens[i, j] != PAD]
        chosen = [j for j in words if rng.random() < 0.15]
        if not chosen and words:
            chosen = [words[int(rng.integers(len(words)))]]
        for j in chosen:
            rows.append(i * CROSS_LEN + j)  # cross_text_row
            targets.append(tokens[i, j])
            masked[i, j] = MASK
    # cmfm: each frame masked with p = 0.15, at least one per clip.
    fmask = rng.random((b, FRAMES)) < 0.15
    for i in range(b):
        if not fmask[i].any():
            fmask[i, int(rng.integers(FRAMES))] = True
    frows = np.nonzero(fmask.reshape(-1))[0]
    fcross = (frows // FRAMES) * CROSS_LEN + MAX_TOKENS + frows % FRAMES  # cross_video_row
    # mixup: lambda ~ Beta(0.4, 0.4), partner i + shift (mod b), captions objective.
    shift = int(rng.integers(1, b)) if b > 1 else 0
    lam = rng.beta(0.4, 0.4, size=b).astype(np.float32)
    partner = (np.arange(b) + shift) % b
    mix_target = np.zeros((b, b), np.float32)
    for i in range(b):
        mix_target[i, i] += lam[i]
        mix_target[i, partner[i]] += 1 - lam[i]
    # rotation: a quarter-turn count per clip.
    turns = rng.integers(0, ROTATIONS, size=b)
    perms = rotation_perms(np, SIDE)[turns]  # (b, 256)
    return {
        "tokens": tokens, "clips": clips,
        "mlm_tokens": masked, "mlm_rows": np.asarray(rows, np.int32),
        "mlm_targets": np.asarray(targets, np.int32),
        "mfm_mask": fmask.reshape(-1), "mfm_rows": frows.astype(np.int32),
        "mfm_cross_rows": fcross.astype(np.int32),
        "mix_lambda": lam, "mix_partner": partner.astype(np.int32),
        "mix_target": mix_target,
        "rot_perm": perms, "rot_target": np.eye(ROTATIONS, dtype=np.float32)[turns],
    }


def vt_model(g):
    """The forward pass (src/domains/video_text/net.rs) and the five task
    losses (plugins/*). Returns {task name: loss(params, batch)}."""
    jax, jnp = g["jax"], g["jnp"]

    def lin(p, n, x):
        return x @ p[n + ".weight"].T + p[n + ".bias"]

    def layer_norm(p, n, x):  # dfdx normalize: biased variance, eps 1e-5
        mu = jnp.mean(x, axis=-1, keepdims=True)
        xc = x - mu
        var = jnp.mean(xc * xc, axis=-1, keepdims=True)
        return xc / jnp.sqrt(var + 1e-5) * p[n + ".weight"] + p[n + ".bias"]

    def self_attention(p, n, x, b, s):
        q = lin(p, n + ".q", x).reshape(b, s, VT_HEADS, HEAD_DIM).transpose(0, 2, 1, 3)
        k = lin(p, n + ".k", x).reshape(b, s, VT_HEADS, HEAD_DIM).transpose(0, 2, 3, 1)
        v = lin(p, n + ".v", x).reshape(b, s, VT_HEADS, HEAD_DIM).transpose(0, 2, 1, 3)
        att = jax.nn.softmax((q @ k) * (1.0 / math.sqrt(HEAD_DIM)), axis=-1)
        out = (att @ v).transpose(0, 2, 1, 3).reshape(b * s, D_MODEL)
        return lin(p, n + ".out", out)

    def encoder_layer(p, n, x, b, s):  # post-norm, no padding mask (as meltr)
        x = layer_norm(p, n + ".norm1", x + self_attention(p, n + ".attn", x, b, s))
        h = jax.nn.relu(lin(p, n + ".ff1", x))
        return layer_norm(p, n + ".norm2", x + lin(p, n + ".ff2", h))

    def positions(p, name, x, b):
        return x + jnp.tile(p[name], (b, 1))

    def encode_text(p, tokens):
        b = tokens.shape[0]
        x = p["text.token_embedding"][tokens.reshape(-1)]
        x = positions(p, "text.position_embedding", x, b)
        return encoder_layer(p, "text.layer", x, b, MAX_TOKENS)

    def embed_frames(p, clips):
        x = clips.reshape(-1, FRAME_LEN) - 0.5
        return lin(p, "video.frame_embedding", x)

    def mask_frames(p, x, masked):
        keep = jnp.where(masked, 0.0, 1.0)[:, None]
        return x * keep + p["video.mask_embedding"] * (1.0 - keep)

    def encode_frames(p, x):
        b = x.shape[0] // FRAMES
        x = positions(p, "video.position_embedding", x, b)
        return encoder_layer(p, "video.layer", x, b, FRAMES)

    def encode_video(p, clips):
        return encode_frames(p, embed_frames(p, clips))

    def cross(p, text, video):
        b = text.shape[0] // MAX_TOKENS
        types = p["cross.type_embedding"]
        t3 = (text + types[0]).reshape(b, MAX_TOKENS, D_MODEL)
        v3 = (video + types[1]).reshape(b, FRAMES, D_MODEL)
        joint = jnp.concatenate([t3, v3], axis=1).reshape(b * CROSS_LEN, D_MODEL)
        return encoder_layer(p, "cross.layer", joint, b, CROSS_LEN)

    def pool(x, per):
        return x.reshape(-1, per, D_MODEL).mean(axis=1)

    def l2_normalize(x):
        return x / jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True) + 1e-6)

    def text_embedding(p, tokens):
        return l2_normalize(lin(p, "align.text_proj", pool(encode_text(p, tokens), MAX_TOKENS)))

    def video_embedding(p, clips):
        return l2_normalize(lin(p, "align.video_proj", pool(encode_video(p, clips), FRAMES)))

    def soft_ce(logits, target):  # dfdx cross_entropy_with_logits_loss
        return -jnp.mean(jnp.sum(jax.nn.log_softmax(logits, axis=-1) * target, axis=-1))

    def info_nce(logits):
        return -jnp.mean(jnp.diagonal(jax.nn.log_softmax(logits, axis=-1)))

    def align(p, bt):  # symmetric InfoNCE, temperature 0.1
        t = text_embedding(p, bt["tokens"])
        v = video_embedding(p, bt["clips"])
        logits = (t @ v.T) / 0.1
        return 0.5 * (info_nce(logits) + info_nce(logits.T))

    def cmlm(p, bt):
        text = encode_text(p, bt["mlm_tokens"])
        video = encode_video(p, bt["clips"])
        joint = cross(p, text, video)
        logits = lin(p, "heads.mlm", joint[bt["mlm_rows"]])
        return soft_ce(logits, jax.nn.one_hot(bt["mlm_targets"], VOCAB_SIZE))

    def cmfm(p, bt):
        e = embed_frames(p, bt["clips"])
        targets = jax.lax.stop_gradient(e)[bt["mfm_rows"]]  # detached targets
        video = encode_frames(p, mask_frames(p, e, bt["mfm_mask"]))
        text = encode_text(p, bt["tokens"])
        joint = cross(p, text, video)
        pred = lin(p, "heads.frame", joint[bt["mfm_cross_rows"]])
        return info_nce((pred @ targets.T) * (1.0 / math.sqrt(D_MODEL)))

    def mixup(p, bt):  # objective "captions" (the batch has no labels)
        c = bt["clips"]
        lam = bt["mix_lambda"][:, None, None, None, None]
        mixed = lam * c + (1.0 - lam) * c[bt["mix_partner"]]
        v = video_embedding(p, mixed)
        t = text_embedding(p, bt["tokens"])
        return soft_ce((v @ t.T) / 0.1, bt["mix_target"])

    def rotation(p, bt):
        c = bt["clips"]
        b = c.shape[0]
        planes = c.reshape(b, FRAMES * CHANNELS, SIDE * SIDE)
        rotated = jnp.take_along_axis(planes, bt["rot_perm"][:, None, :], axis=2)
        pooled = pool(encode_video(p, rotated.reshape(b, FRAMES, CHANNELS, SIDE, SIDE)), FRAMES)
        return soft_ce(lin(p, "heads.rotation", pooled), bt["rot_target"])

    return {"align": align, "cmlm": cmlm, "cmfm": cmfm, "mixup": mixup,
            "rotation": rotation}


# ================================================================ digits
def dg_layout():
    w = DG_WIDTH
    out = []

    def conv(name, i, o, k):
        out.append((f"{name}.weight", (o, i, k, k)))
        out.append((f"{name}.bias", (o,)))

    conv("stem.conv", 1, w, 3)
    for b in range(DG_BLOCKS):
        conv(f"blocks.{b}.conv1", w, w, 3)
        conv(f"blocks.{b}.conv2", w, w, 3)
    out.append(("heads.class.weight", (DG_CLASSES, w)))
    out.append(("heads.class.bias", (DG_CLASSES,)))
    out.append(("heads.rotation.weight", (ROTATIONS, w)))
    out.append(("heads.rotation.bias", (ROTATIONS,)))
    out.append(("pixels.mask_value", (1,)))
    conv("heads.pixel", w, 1, 1)
    return out


def dg_init(np, seed):
    rng = np.random.default_rng(seed)
    params = {}
    for name, shape in dg_layout():
        if name == "pixels.mask_value":
            v = np.full(shape, -1.0)
        elif name.endswith(".bias"):
            v = np.zeros(shape)
        else:
            b = 1.0 / math.sqrt(int(np.prod(shape[1:])))
            v = rng.uniform(-b, b, size=shape)
        params[name] = np.asarray(v, np.float32)
    return params


def dg_batch(np, b, seed):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 1, size=(b, DG_SIDE, DG_SIDE)).astype(np.float32)
    labels = rng.integers(0, DG_CLASSES, size=b)
    eye = np.eye(DG_CLASSES, dtype=np.float32)
    turns = rng.integers(0, ROTATIONS, size=b)
    shift = int(rng.integers(1, b)) if b > 1 else 0
    lam = rng.beta(0.4, 0.4, size=b).astype(np.float32)
    partner = (np.arange(b) + shift) % b
    mix_target = lam[:, None] * eye[labels] + (1 - lam[:, None]) * eye[labels[partner]]
    # masked_pixels: each pixel hidden with p = 0.25, at least one per image.
    m = rng.random((b, DG_PIXELS)) < 0.25
    for i in range(b):
        if not m[i].any():
            m[i, int(rng.integers(DG_PIXELS))] = True
    rows = np.nonzero(m.reshape(-1))[0].astype(np.int32)
    return {
        "images": images, "class_target": eye[labels],
        "rot_perm": rotation_perms(np, DG_SIDE)[turns],
        "rot_target": np.eye(ROTATIONS, dtype=np.float32)[turns],
        "mix_lambda": lam, "mix_partner": partner.astype(np.int32),
        "mix_target": mix_target.astype(np.float32),
        "pix_mask": m, "pix_rows": rows,
    }


def dg_model(g):
    """src/domains/digits/net.rs (convolutions with XLA's own conv, not
    im2col: same arithmetic) and plugins classify, rotation, mixup
    (classes), masked_pixels."""
    jax, jnp = g["jax"], g["jnp"]
    lax = jax.lax

    def conv3(p, n, x):  # NHWC, padding 1
        w = p[n + ".weight"].transpose(2, 3, 1, 0)  # (o, i, 3, 3) -> HWIO
        y = lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return y + p[n + ".bias"]

    def feature_map(p, x):
        h = jax.nn.relu(conv3(p, "stem.conv", x))
        for b in range(DG_BLOCKS):
            skip = h
            h2 = jax.nn.relu(conv3(p, f"blocks.{b}.conv1", h))
            h = jax.nn.relu(skip + conv3(p, f"blocks.{b}.conv2", h2))
        return h

    def features(p, images):
        return feature_map(p, (images - 0.5)[..., None]).mean(axis=(1, 2))

    def lin(p, n, x):
        return x @ p[n + ".weight"].T + p[n + ".bias"]

    def soft_ce(logits, target):
        return -jnp.mean(jnp.sum(jax.nn.log_softmax(logits, axis=-1) * target, axis=-1))

    def classify(p, bt):
        return soft_ce(lin(p, "heads.class", features(p, bt["images"])), bt["class_target"])

    def rotation(p, bt):
        im = bt["images"]
        b = im.shape[0]
        rot = jnp.take_along_axis(im.reshape(b, DG_PIXELS), bt["rot_perm"], axis=1)
        logits = lin(p, "heads.rotation", features(p, rot.reshape(b, DG_SIDE, DG_SIDE)))
        return soft_ce(logits, bt["rot_target"])

    def mixup(p, bt):  # objective "classes" (the batch has labels)
        im = bt["images"]
        lam = bt["mix_lambda"][:, None, None]
        mixed = lam * im + (1.0 - lam) * im[bt["mix_partner"]]
        return soft_ce(lin(p, "heads.class", features(p, mixed)), bt["mix_target"])

    def masked_pixels(p, bt):
        im = bt["images"]
        b = im.shape[0]
        m = bt["pix_mask"].reshape(b, DG_SIDE, DG_SIDE)
        x = jnp.where(m, p["pixels.mask_value"][0], im - 0.5)[..., None]
        h = feature_map(p, x)  # (b, 8, 8, w)
        w = p["heads.pixel.weight"].reshape(1, DG_WIDTH)
        pred = (h.reshape(-1, DG_WIDTH) @ w.T + p["heads.pixel.bias"]).reshape(-1)
        rows = bt["pix_rows"]
        return jnp.mean((pred[rows] - im.reshape(-1)[rows]) ** 2)

    return {"classify": classify, "rotation": rotation, "mixup": mixup,
            "masked_pixels": masked_pixels}


# ============================================================ backbones
def backbone(g, name, k):
    np = g["np"]
    if name == "video_text":
        fns, order, init, batch = vt_model(g), VT_TASKS, vt_init, vt_batch
    else:
        fns, order, init, batch = dg_model(g), DG_TASKS, dg_init, dg_batch
    k = k or len(order)
    if not 1 <= k <= len(order):
        raise SystemExit(f"--k: 1..{len(order)} for {name} ({', '.join(order)})")
    tasks = order[:k]
    jnp = g["jnp"]

    def losses(p, bt):
        return jnp.stack([fns[t](p, bt) for t in tasks])

    return {
        "tasks": tasks,
        "losses": losses,
        "primary": fns[order[0]],  # align / classify: first in the run file
        "init": lambda seed: {n: jnp.asarray(v) for n, v in init(np, seed).items()},
        "batch": lambda b, seed: {n: jnp.asarray(v) for n, v in batch(np, b, seed).items()},
    }


def set_width(backbone, width):
    """The backbone's `width` setting, as meltr's BackboneConfig /
    ResNetConfig take it (the model functions read these globals)."""
    global DG_WIDTH, D_MODEL, HEAD_DIM, FF_WIDTH
    if backbone == "digits":
        if width < 1:
            raise SystemExit("--width: a positive width")
        DG_WIDTH = width
    else:
        if width < VT_HEADS or width % VT_HEADS:
            raise SystemExit(f"--width: a positive multiple of the {VT_HEADS} attention "
                             f"heads for video_text")
        D_MODEL, HEAD_DIM, FF_WIDTH = width, width // VT_HEADS, 2 * width


def measure_backbone(g, args):
    jax, jnp, np = g["jax"], g["jnp"], g["np"]
    if args.width is not None:
        set_width(args.backbone, args.width)
    bb = backbone(g, args.backbone, args.k)
    b = args.batch or DEFAULT_BATCH[args.backbone]
    if b < 2:
        raise SystemExit("--batch: at least 2 (contrastive and mixup losses)")
    k = len(bb["tasks"])
    losses = bb["losses"]
    lr = BACKBONE_LR[args.backbone]
    w = bb["init"](args.seed)
    n_params = sum(int(np.prod(v.shape)) for v in w.values())
    batch_train = bb["batch"](b, args.seed + 1)
    params = {"backbone": args.backbone, "batch": b, "k": k, "tasks": bb["tasks"]}
    params["width"] = DG_WIDTH if args.backbone == "digits" else D_MODEL
    extra = {"n_params": n_params}

    if args.cmd == "step":
        def step(w, s, bt):
            loss, gr = jax.value_and_grad(lambda w: jnp.sum(losses(w, bt)))(w)
            w, s = adam_update(g, w, gr, s, lr)
            return w, s, loss

        fn = jax.jit(step, donate_argnums=(0, 1))
        state = {"w": w, "s": adam_init(g, w)}
        t = time.perf_counter()
        fn = fn.lower(state["w"], state["s"], batch_train).compile()
        compile_s = time.perf_counter() - t

        def call():
            state["w"], state["s"], loss = fn(state["w"], state["s"], batch_train)
            return loss
        measure = "step.plain"
    else:
        preset = args.head_preset or HEAD_PRESET[args.backbone]
        (h1, d, f), _ = PRESETS[preset]
        head = make_head_fn(g)
        phi = [jnp.asarray(a) for a in head_init(np, k, h1, d, f, args.seed + 7)]
        params["head_preset"] = preset
        extra["head_params"] = sum(int(np.prod(a.shape)) for a in phi)

        if args.cmd == "meltr_step":
            def step(w, s, phi, bt):
                l, vjp = jax.vjp(lambda w: losses(w, bt), w)
                value, a = jax.value_and_grad(head, argnums=1)(phi, l)  # a = grad_l f
                (gr,) = vjp(a)  # grad_w sum_k a_k l_k = grad_w f(l(w))
                w, s = adam_update(g, w, gr, s, lr)
                return w, s, value

            fn = jax.jit(step, donate_argnums=(0, 1))
            state = {"w": w, "s": adam_init(g, w)}
            t = time.perf_counter()
            fn = fn.lower(state["w"], state["s"], phi, batch_train).compile()
            compile_s = time.perf_counter() - t

            def call():
                state["w"], state["s"], v = fn(state["w"], state["s"], phi, batch_train)
                return v
            measure = "step.meltr"
        else:
            batch_meta = bb["batch"](b, args.seed + 2)
            primary = bb["primary"]
            gamma = META["gamma"]
            reg_on_meta = args.reg_batch == "meta"
            direct = not args.no_direct
            params["reg_batch"] = args.reg_batch
            params["direct_term"] = direct

            def meta_step(w, phi, hs, bt, bm):
                # L_out(w, phi) = l_primary(w; meta) + gamma |sum_k l_k - f_phi(l)|
                def l_out(w, phi):
                    lp = primary(w, bm)
                    l = losses(w, bm if reg_on_meta else bt)
                    return lp + gamma * jnp.abs(jnp.sum(l) - head(phi, l))

                v, g_direct = jax.grad(l_out, argnums=(0, 1))(w, phi)
                v = jax.lax.stop_gradient(v)

                # d/dphi < grad_w L_train(w, phi), v >, L_train = f_phi(l(w; train)):
                # jax.grad of a function that calls jax.grad (double backward
                # through the whole backbone), as the reference MELTRgrad.
                def inner(phi):
                    g_w = jax.grad(lambda w: head(phi, losses(w, bt)))(w)
                    return sum(jnp.vdot(g_w[n], v[n]) for n in g_w)

                ht = jax.grad(inner)(phi)
                if direct:
                    hyper = jax.tree_util.tree_map(lambda a, b: a - b, g_direct, ht)
                else:
                    hyper = jax.tree_util.tree_map(lambda b: -b, ht)
                hyper, norm = clip_global_norm(g, hyper, META["clip"])
                phi, hs = adam_update(g, phi, hyper, hs, META["lr"], META["weight_decay"])
                return phi, hs, norm

            fn = jax.jit(meta_step, donate_argnums=(1, 2))
            state = {"phi": phi, "hs": adam_init(g, phi)}
            t = time.perf_counter()
            fn = fn.lower(w, state["phi"], state["hs"], batch_train, batch_meta).compile()
            compile_s = time.perf_counter() - t

            def call():
                state["phi"], state["hs"], n = fn(w, state["phi"], state["hs"],
                                                  batch_train, batch_meta)
                return n
            measure = "meta.aid_fp_lite"
    stats = time_calls(g, call, args.reps, args.warmup)
    extra["compile_s"] = round(compile_s, 3)
    return finish(measure, params, stats, args.reps, extra)


# ================================================================ checks
def read_safetensors(np, path):
    """Minimal safetensors reader (F32 only): {name: array}."""
    with open(path, "rb") as fh:
        data = fh.read()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {info['dtype']}")
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype="<f4").reshape(info["shape"]).copy()
    return out


def ref_u_array(np, seed, t, n):
    """u(seed, t, i) of gen_head_vectors.py (splitmix64)."""
    base = np.uint64((seed * 1000003 + t * 65537) & ((1 << 64) - 1))
    with np.errstate(over="ignore"):
        x = base + np.arange(n, dtype=np.uint64)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        z = x
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0 ** 53 * 2.0 - 1.0


def ref_params(np, seed, k, h1, d, f):
    """make_params of gen_head_vectors.py: the float32 weights of a case."""
    b = 0.1
    specs = [(0.0, 1.0), (0.0, 1.0), (0.0, 0.5), (0.0, 1 / math.sqrt(h1)), (0.0, b),
             (0.0, 1 / math.sqrt(d)), (0.0, b), (0.0, 1 / math.sqrt(d)), (0.0, b),
             (0.0, 1 / math.sqrt(d)), (0.0, b), (0.0, 1 / math.sqrt(f)), (0.0, b),
             (1.0, 0.2), (0.0, 0.1), (1.0, 0.2), (0.0, 0.1), (0.0, 1 / math.sqrt(d))]
    out = []
    for t, ((off, scale), shape) in enumerate(zip(specs, head_shapes(k, h1, d, f))):
        n = int(np.prod(shape))
        out.append((off + scale * ref_u_array(np, seed, t, n)).astype(np.float32).reshape(shape))
    return out


def run_checks(g, args):
    """1. f32 head forward (safetensors weights of case 0, and every case's
          regenerated weights) against cases.json's f64 values, 1e-4;
       2. f32 value_weights against the f64 weights;
       3. f32 double-backward head term against the stored f64 head term
          (sampled entries and the whole-tensor probe);
       4. the head term against a central difference of <grad_l f, c> in phi
          along a random direction (evaluated in f64 with the same code);
       5. the backbone meta step's double-backward term against the
          first-order route of docs/design.md section 2 (c = J v by jax.jvp,
          then the head term), at batch 4, in f64.
    Prints one JSON line; returns True when every check passes."""
    jax, jnp, np = g["jax"], g["jnp"], g["np"]
    f32, f64 = jnp.float32, jnp.float64
    doc = json.load(open(os.path.join(REF_DIR, "cases.json")))
    head = make_head_fn(g)
    ops = make_head_ops(g, head)
    results, ok = [], True

    def record(name, err, tol, **more):
        nonlocal ok
        passed = bool(err <= tol)
        ok = ok and passed
        results.append({"check": name, "err": float(err), "tol": tol, "ok": passed, **more})

    # 1a. case 0 from the safetensors file.
    st = read_safetensors(np, os.path.join(REF_DIR, "case0_weights.safetensors"))
    case0 = doc["cases"][0]
    p0 = [jnp.asarray(st[n], f32) for n in HEAD_NAMES]
    l0 = jnp.asarray(case0["losses"], f32)
    v0 = float(ops["forward"](p0, l0))
    record("forward[case0 safetensors]", abs(v0 - case0["value"]) / max(1.0, abs(case0["value"])), 1e-4)

    rng = np.random.default_rng(args.seed)
    for case in doc["cases"]:
        h1, d, f, k = case["h1"], case["d"], case["f"], case["k"]
        p32 = ref_params(np, case["seed"], k, h1, d, f)
        # the regenerated weights are the generator's (its params_check)
        e_w = max(abs(float(np.sum(a.astype(np.float64))) - case["params_check"][n]["sum"])
                  / max(1.0, abs(case["params_check"][n]["sum"]))
                  for n, a in zip(HEAD_NAMES, p32))
        if case is case0:
            e_w = max(e_w, max(float(np.max(np.abs(st[n] - a))) for n, a in zip(HEAD_NAMES, p32)))
        record(f"weights regenerated[{case['name']}]", e_w, 1e-9)
        p = [jnp.asarray(a, f32) for a in p32]
        l = jnp.asarray(case["losses"], f32)
        c = jnp.asarray(case["direction"], f32)
        # 1. forward
        v = float(ops["forward"](p, l))
        record(f"forward[{case['name']}]", abs(v - case["value"]) / max(1.0, abs(case["value"])), 1e-4)
        # 2. value and weights
        val, a = ops["value_weights"](p, l)
        wref = np.asarray(case["weights"])
        e = float(np.max(np.abs(np.asarray(a, np.float64) - wref))) / max(float(np.max(np.abs(wref))), 1e-3)
        record(f"weights grad_l f[{case['name']}]", e, 1e-4)
        # 3. head term (double backward, f32) vs the stored f64 values
        ht = ops["head_term"](p, l, c)
        big = max(v_["norm"] for v_ in case["head_term"].values())
        e_el, e_probe = 0.0, 0.0
        for t, (name, arr) in enumerate(zip(HEAD_NAMES, ht)):
            ref = case["head_term"][name]
            flat = np.asarray(arr, np.float64).ravel()
            got = flat[::ref["stride"]]
            scale = max(ref["norm"], 1e-3 * big)
            e_el = max(e_el, float(np.max(np.abs(got - np.asarray(ref["values"])))) / scale)
            probe = float(np.dot(flat, ref_u_array(np, 999, t, flat.size)))
            e_probe = max(e_probe, abs(probe - ref["probe"]) / (scale * math.sqrt(flat.size)))
        record(f"head_term elements[{case['name']}]", e_el, 1e-3)
        record(f"head_term probe[{case['name']}]", e_probe, 1e-4)
        # 4. central difference of <grad_l f, c> in phi along a random u, in f64
        u = [rng.standard_normal(x.shape) for x in p32]
        un = math.sqrt(sum(float(np.sum(x * x)) for x in u))
        u = [x / un for x in u]
        exact = sum(float(np.sum(np.asarray(a, np.float64) * b)) for a, b in zip(ht, u))
        p64 = [jnp.asarray(a, f64) for a in p32]
        l64, c64 = jnp.asarray(case["losses"], f64), jnp.asarray(case["direction"], f64)
        mixed = ops["mixed"]
        norm_p = math.sqrt(sum(float(np.sum(a.astype(np.float64) ** 2)) for a in p32))
        htn = math.sqrt(sum(float(np.sum(np.asarray(a, np.float64) ** 2)) for a in ht))
        best = None
        for rel_step in (1e-5, 1e-6, 1e-7):  # ReLU kinks spoil a large step
            eps = rel_step * norm_p
            up = float(mixed([a + eps * b for a, b in zip(p64, u)], l64, c64))
            dn = float(mixed([a - eps * b for a, b in zip(p64, u)], l64, c64))
            fd = (up - dn) / (2 * eps)
            err = abs(fd - exact) / max(abs(exact), 1e-3 * htn)
            if best is None or err < best[0]:
                best = (err, fd)
        err, fd = best
        record(f"head_term vs central difference[{case['name']}]", err, 1e-3,
               directional=exact, central_difference=fd)

    # 5. the backbone: double backward == first-order pieces (design section 2)
    for bname in ("video_text", "digits"):
        bb = backbone(g, bname, None)
        k = len(bb["tasks"])
        cast = lambda tree: jax.tree_util.tree_map(  # noqa: E731
            lambda x: x.astype(f64) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)
        w = cast(bb["init"](args.seed))
        bt = cast(bb["batch"](4, args.seed + 1))
        bm = cast(bb["batch"](4, args.seed + 2))
        (h1, d, f), _ = PRESETS["allinone"]
        phi = [jnp.asarray(a, f64) for a in head_init(np, k, h1, d, f, 3)]
        losses, primary = bb["losses"], bb["primary"]
        v = jax.grad(lambda w: primary(w, bm))(w)

        def inner(phi):
            g_w = jax.grad(lambda w: head(phi, losses(w, bt)))(w)
            return sum(jnp.vdot(g_w[n], v[n]) for n in g_w)

        ht_db = jax.jit(jax.grad(inner))(phi)
        l, c = jax.jvp(lambda w: losses(w, bt), (w,), (v,))  # c = J v
        ht_fo = ops["head_term"](phi, l, c)
        num = math.sqrt(sum(float(jnp.sum((a - b) ** 2)) for a, b in zip(ht_db, ht_fo)))
        den = math.sqrt(sum(float(jnp.sum(a ** 2)) for a in ht_fo))
        record(f"meta head term: double backward vs first order[{bname}]",
               num / max(den, 1e-30), 1e-8, norm=den)

    print(json.dumps({"measure": "check", "ok": ok, "checks": results,
                      "jax": jax.__version__, "peak_rss_mb": round(rss_mb(), 1)}))
    if not ok:
        for r in results:
            if not r["ok"]:
                print(f"FAILED: {r['check']}: {r['err']:.3e} > {r['tol']:.0e}", file=sys.stderr)
    return ok


if __name__ == "__main__":
    sys.exit(main())
