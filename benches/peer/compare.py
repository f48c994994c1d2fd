#!/usr/bin/env python3
"""meltr against its JAX peer twin (benches/peer/twin.py): one table.

Runs each measurement in its own process, on both sides, and reads each
child's peak RSS from os.wait4 (ru_maxrss of that child alone), so peaks do
not mix. Prints one table on stdout (progress and errors on stderr):

    section | measurement | meltr ms | twin ms | meltr/twin | meltr MB | twin MB | meltr/twin

Sections: the head per preset at its reference K (forward, value+weights,
head term, meta update); the plain backbone step (video_text batch 32,
digits batch 20); the MELTR step and the AID-FP-Lite meta step (video_text
batch 32); the epoch-time ratio (step_meltr + meta/meta_every) / step_plain
at meta_every 3 and 10; then scaling in the batch (8..256: video_text plain
step and meta step, digits plain step), in the backbones' width (plain
step, x1/x2/x4 = video_text 32/64/128 and digits 16/32/64, each over the
batch sizes; meltr's `--backbone-settings`, the twin's --width) and in K
(univl head, K 2..16: value+weights and head term). Where both sides
report their backbone's parameter count (`n_params`) and the counts
differ, the row is listed after the table and the exit status is 1.

meltr's side runs the binary (--meltr, default target/release/meltr):

    meltr bench head --json --preset P --tasks K --reps N
    meltr bench step --preset quick|digits --batch-size B --tasks-count K
                     --reps N --json --only plain|meltr|meta

A missing binary or a failing command leaves meltr's cells empty ("-" or
"err") and is listed, with its command line and the end of its stderr,
after the table; the twin's side still runs (and vice versa).

Threads (--threads, default 1): meltr's dfdx CPU backend runs element-wise
ops and reductions on one thread but its matmuls through gemm with
Parallelism::Rayon(rayon::current_num_threads()), threaded above
48*48*256 multiply-adds per block. --threads 1 runs meltr with
RAYON_NUM_THREADS=1 and the twin with --threads 1 (XLA's single-thread
flags, and the twin pins itself to one core), and pins both sides' processes
to the same single core (--cpus to choose others, --no-pin to leave meltr
unpinned); --threads all leaves both at their defaults (all cores).

    python3 benches/peer/compare.py                 # everything (minutes)
    python3 benches/peer/compare.py --quick         # fewer reps and sizes
    python3 benches/peer/compare.py --sections head,k --json out.json --csv out.csv
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TWIN = os.path.join(HERE, "twin.py")

HEAD_REF = [("allinone", 2), ("violet", 3), ("univl", 8), ("paper", 8)]
HEAD_WHAT = [("forward", "forward"), ("value_weights", "value+weights"),
             ("head_term", "head term"), ("meta_update", "meta update")]
SECTIONS = ["head", "step", "meta", "ratio", "batch", "width", "k"]
VT_K = 5  # quick.toml's five tasks
DIGITS_K, DIGITS_BATCH = 4, 20  # digits.toml
VT_WIDTHS = [32, 64, 128]  # the video-text model's width (d_model) x1, x2, x4
DIGITS_WIDTHS = [16, 32, 64]  # the digits classifier's width x1, x2, x4
META_EVERY = (3, 10)


# ------------------------------------------------------------ children --
class Child:
    """One finished process: rc, stdout, stderr, wall seconds, peak RSS."""

    def __init__(self, cmd, rc=None, out="", err="", wall=0.0, peak_mb=None,
                 error=None, timed_out=False):
        self.cmd, self.rc, self.out, self.err = cmd, rc, out, err
        self.wall, self.peak_mb, self.error, self.timed_out = wall, peak_mb, error, timed_out

    @property
    def ok(self):
        return self.error is None and self.rc == 0 and not self.timed_out

    def describe_failure(self):
        if self.error:
            return self.error
        if self.timed_out:
            return f"timed out after {self.wall:.0f} s"
        return f"exit status {self.rc}"


def run_child(cmd, env=None, timeout=None, cpus=None):
    """Runs cmd; its peak RSS comes from os.wait4 (this child alone)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        t0 = time.perf_counter()
        try:
            p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env,
                                 stdin=subprocess.DEVNULL, preexec_fn=preexec)
        except OSError as e:
            return Child(cmd, error=f"cannot start: {e}")
        timed_out = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if timeout and time.perf_counter() - t0 > timeout:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                timed_out = True
                break
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return Child(cmd, rc=p.returncode, out=out.read().decode("utf-8", "replace"),
                     err=err.read().decode("utf-8", "replace"), wall=wall,
                     peak_mb=ru.ru_maxrss / 1024.0, timed_out=timed_out)


def first_json(text):
    """The first JSON object or array in text (tolerates log lines around it)."""
    dec = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "[{":
            try:
                return dec.raw_decode(text[i:])[0]
            except ValueError:
                continue
    raise ValueError("no JSON in the output")


def last_json_line(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the output")


# -------------------------------------------------------------- runner --
class Runner:
    def __init__(self, args):
        self.args = args
        self.cache = {}
        self.failures = []
        self.count = 0
        self.meltr = os.path.abspath(args.meltr) if os.path.isabs(args.meltr) or \
            os.path.exists(args.meltr) else os.path.join(ROOT, args.meltr)
        self.meltr_ok = not args.twin_only
        if self.meltr_ok and not os.access(self.meltr, os.X_OK):
            note(f"meltr binary not found or not executable at {self.meltr}: build it "
                 f"with `cargo build --release -p meltr-cli` (or pass --meltr PATH); "
                 f"meltr's columns are left empty")
            self.meltr_ok = False
        self.twin_ok = not args.meltr_only
        env = dict(os.environ)
        if args.threads == "1":
            env["RAYON_NUM_THREADS"] = "1"
        else:
            env.pop("RAYON_NUM_THREADS", None)
        self.meltr_env = env
        if args.cpus:
            self.cpus = {int(c) for c in args.cpus.split(",")}
        elif args.threads == "1" and not args.no_pin:
            self.cpus = {min(os.sched_getaffinity(0))}  # both sides on one core
        else:
            self.cpus = None

    def _run(self, side, cmd, env, parse):
        key = (side, tuple(cmd))
        if key in self.cache:
            return self.cache[key]
        self.count += 1
        short = " ".join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd))
        progress(f"[{self.count}] {side}: {short}")
        child = run_child(cmd, env=env, timeout=self.args.timeout, cpus=self.cpus)
        result = {"cmd": cmd, "rc": child.rc, "wall_s": round(child.wall, 2),
                  "peak_mb": None if child.peak_mb is None else round(child.peak_mb, 1)}
        if child.ok:
            try:
                result["data"] = parse(child.out)
            except (ValueError, KeyError, TypeError) as e:
                result["error"] = f"unreadable output ({e})"
        else:
            result["error"] = child.describe_failure()
        if "error" in result:
            tail = "\n".join((child.err or child.out).strip().splitlines()[-6:])
            result["stderr_tail"] = tail
            self.failures.append((side, cmd, result["error"], tail))
            progress(f"    failed: {result['error']}")
        else:
            progress(f"    done in {child.wall:.1f} s, peak {child.peak_mb:.0f} MB")
        self.cache[key] = result
        return result

    def meltr_run(self, argv, parse=first_json):
        if not self.meltr_ok:
            return None
        return self._run("meltr", [self.meltr] + argv, self.meltr_env, parse)

    def twin_run(self, argv):
        if not self.twin_ok:
            return None
        cmd = [self.args.python, TWIN] + argv + ["--threads", self.args.threads]
        return self._run("twin", cmd, None, last_json_line)


def note(msg):
    print(f"note: {msg}", file=sys.stderr)


def progress(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------- the cells --
def meltr_head(r, preset, k, reps, key):
    res = r.meltr_run(["bench", "head", "--json", "--preset", preset, "--tasks", str(k),
                       "--reps", str(reps)])
    if res is None or "data" not in res:
        return cell(res)
    data = res["data"]
    rows = data if isinstance(data, list) else [data]
    pick = [o for o in rows if o.get("head") == preset and int(o.get("k", k)) == k] or rows
    return cell(res, pick[0].get(f"{key}_ms"), f"{key}_ms")


def meltr_step(r, backbone, batch, k, reps, only, key, width=None):
    preset = "quick" if backbone == "video_text" else "digits"
    argv = ["bench", "step", "--preset", preset, "--batch-size", str(batch),
            "--tasks-count", str(k), "--reps", str(reps), "--json", "--only", only]
    if width is not None:
        argv += ["--backbone-settings", json.dumps({"width": width})]
    res = r.meltr_run(argv)
    if res is None or "data" not in res:
        return cell(res)
    c = cell(res, res["data"].get(key), key)
    c["extra"] = {"meta_every": res["data"].get("meta_every")}
    c["n_params"] = res["data"].get("n_params")
    return c


def meltr_floor(r, batch, k, reps):
    """meltr's meta step over its floor (every phase in one process)."""
    res = r.meltr_run(["bench", "step", "--preset", "quick", "--batch-size", str(batch),
                       "--tasks-count", str(k), "--reps", str(reps), "--json"])
    if res is None or "data" not in res:
        return cell(res)
    return cell(res, res["data"].get("meta_over_floor"), "meta_over_floor")


def twin_cell(r, argv):
    res = r.twin_run(argv)
    if res is None or "data" not in res:
        return cell(res)
    c = cell(res, res["data"].get("ms"), "ms")
    c["n_params"] = res["data"].get("n_params")
    return c


MISSING = []  # (cmd, key) of outputs that lacked a value
MISMATCHED = []  # (row label, meltr's n_params, the twin's) where they differ


def cell(res, ms=None, key=None):
    """What one side contributes to a row."""
    if res is None:
        return {"ms": None, "peak_mb": None, "status": "skipped"}
    if "error" in res:
        return {"ms": None, "peak_mb": res.get("peak_mb"), "status": "error",
                "error": res["error"], "cmd": res["cmd"]}
    if ms is None:
        MISSING.append((res["cmd"], key))
    return {"ms": ms, "peak_mb": res.get("peak_mb"),
            "status": "ok" if ms is not None else "missing key", "cmd": res["cmd"]}


def row(section, measurement, meltr, twin, unit="ms", **params):
    return {"section": section, "measurement": measurement, "unit": unit,
            "params": params, "meltr": meltr, "twin": twin}


def scaled_reps(base, batch, floor):
    return max(floor, int(round(base * 32 / batch)))


# ------------------------------------------------------------- sections --
def build_rows(r, args):
    q = args.quick
    head_reps = args.head_reps or (30 if q else 200)
    step_reps = args.step_reps or (5 if q else 20)
    meta_reps = args.meta_reps or (3 if q else 10)
    batches = [8, 32, 128] if q else [8, 16, 32, 64, 128, 256]
    ks = [2, 4, 8, 16] if q else list(range(2, 17))
    want = set(args.sections.split(",")) if args.sections else set(SECTIONS)
    unknown = want - set(SECTIONS)
    if unknown:
        raise SystemExit(f"--sections: unknown {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(SECTIONS)}")
    rows = []

    def head_rows(section, preset, k, whats):
        for what, label in whats:
            m = meltr_head(r, preset, k, head_reps, what)
            t = twin_cell(r, ["head", "--preset", preset, "--k", str(k), "--what", what,
                              "--reps", str(head_reps)])
            rows.append(row(section, f"{preset}-k{k} {label}", m, t, preset=preset, k=k,
                            what=what))

    def pair(section, label, kind, key, twin_cmd, backbone, batch, k, reps, width=None):
        """One row: meltr's `kind` phase (its JSON `key`) against the twin's `twin_cmd`."""
        m = meltr_step(r, backbone, batch, k, reps, kind, key, width)
        argv = [twin_cmd, "--backbone", backbone, "--batch", str(batch),
                "--k", str(k), "--reps", str(reps)]
        if width is not None:
            argv += ["--width", str(width)]
        t = twin_cell(r, argv)
        counts = (m.get("n_params"), t.get("n_params"))
        if None not in counts and counts[0] != counts[1]:
            MISMATCHED.append((label,) + counts)
        rows.append(row(section, label, m, t, backbone=backbone, batch=batch, k=k, kind=kind,
                        width=width))
        return m, t

    def plain(backbone, batch, k, section, width=None):
        reps = scaled_reps(step_reps, batch, 3 if not q else 2)
        label = f"{backbone} b{batch} plain step" + (f" width {width}" if width else "")
        return pair(section, label, "plain", "sum_step_ms", "step", backbone, batch, k, reps,
                    width)

    def meltr_steprow(batch, section):
        reps = scaled_reps(step_reps, batch, 3 if not q else 2)
        return pair(section, f"video_text b{batch} MELTR step", "meltr", "step_ms",
                    "meltr_step", "video_text", batch, VT_K, reps)

    def meta(batch, section):
        reps = scaled_reps(meta_reps, batch, 2)
        return pair(section, f"video_text b{batch} meta step (AID-FP-Lite)", "meta",
                    "meta_step_ms", "meta", "video_text", batch, VT_K, reps)

    if "head" in want:
        for preset, k in HEAD_REF:
            head_rows("head (reference K)", preset, k, HEAD_WHAT)
    parts = {}
    if "step" in want or "ratio" in want:
        parts["plain"] = plain("video_text", 32, VT_K, "backbone step")
        if "step" in want:
            plain("digits", DIGITS_BATCH, DIGITS_K, "backbone step")
        parts["meltr"] = meltr_steprow(32, "backbone step")
    if "meta" in want or "ratio" in want:
        parts["meta"] = meta(32, "meta step")
    if "meta" in want:
        f = meltr_floor(r, 32, VT_K, scaled_reps(meta_reps, 32, 2))
        f["peak_mb"] = None
        none = {"ms": None, "peak_mb": None, "status": "n/a"}
        rows.append(row("meta step", "meltr meta step / its floor, b32", f, none, unit="x"))
    if "ratio" in want:
        for every in META_EVERY:
            sides = []
            for i in range(2):
                p, s, mt = (parts[x][i]["ms"] for x in ("plain", "meltr", "meta"))
                v = None if None in (p, s, mt) or p == 0 else (s + mt / every) / p
                sides.append({"ms": v, "peak_mb": None,
                              "status": "ok" if v is not None else "missing"})
            rows.append(row("epoch ratio", f"(MELTR step + meta/{every}) / plain, b32",
                            sides[0], sides[1], unit="x", meta_every=every))
    if "batch" in want:
        for b in batches:
            plain("video_text", b, VT_K, "scaling: batch")
            meta(b, "scaling: batch")
        for b in batches:
            plain("digits", b, DIGITS_K, "scaling: batch")
    if "width" in want:
        # Each backbone's width x1, x2, x4, across the batch sizes.
        for wd in VT_WIDTHS:
            for b in batches:
                plain("video_text", b, VT_K, "scaling: width", width=wd)
        for wd in DIGITS_WIDTHS:
            for b in batches:
                plain("digits", b, DIGITS_K, "scaling: width", width=wd)
    if "k" in want:
        for k in ks:
            head_rows("scaling: K (univl)", "univl", k, HEAD_WHAT[1:3])
    return rows


# --------------------------------------------------------------- output --
def fmt(v, unit="ms"):
    if v is None:
        return "-"
    if unit == "x":
        return f"{v:.3f}x"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def side_text(c, key, unit="ms"):
    if c["status"] == "error":
        return "err"
    return fmt(c[key], unit)


def print_table(rows, out=sys.stdout):
    head = ["section", "measurement", "meltr ms", "twin ms", "meltr/twin",
            "meltr MB", "twin MB", "meltr/twin"]
    lines = []
    for rw in rows:
        m, t, unit = rw["meltr"], rw["twin"], rw["unit"]
        rt = ratio(m["ms"], t["ms"])
        rm = ratio(m["peak_mb"], t["peak_mb"])
        lines.append([rw["section"], rw["measurement"], side_text(m, "ms", unit),
                      side_text(t, "ms", unit), "-" if rt is None else f"{rt:.2f}",
                      fmt(m["peak_mb"], "mb") if m["status"] == "ok" else "-",
                      fmt(t["peak_mb"], "mb") if t["status"] == "ok" else "-",
                      "-" if rm is None or "ok" != m["status"] or "ok" != t["status"]
                      else f"{rm:.2f}"])
    widths = [max(len(h), *(len(x[i]) for x in lines)) if lines else len(h)
              for i, h in enumerate(head)]
    right = {2, 3, 4, 5, 6, 7}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    print(line(head), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    last = None
    for cells in lines:
        if last is not None and cells[0] != last:
            print("", file=out)
        print(line([cells[0] if cells[0] != last else ""] + cells[1:]), file=out)
        last = cells[0]


def write_csv(rows, path):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["section", "measurement", "unit", "params", "meltr_ms", "twin_ms",
                    "ms_ratio", "meltr_peak_mb", "twin_peak_mb", "mb_ratio",
                    "meltr_status", "twin_status"])
        for rw in rows:
            m, t = rw["meltr"], rw["twin"]
            w.writerow([rw["section"], rw["measurement"], rw["unit"],
                        json.dumps(rw["params"], sort_keys=True), m["ms"], t["ms"],
                        ratio(m["ms"], t["ms"]), m["peak_mb"], t["peak_mb"],
                        ratio(m["peak_mb"], t["peak_mb"]), m["status"], t["status"]])


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        note(f"matplotlib is not installed: --plot {path} skipped (--csv gives the numbers)")
        return
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    series = [
        (axes[0], "scaling: batch", "batch", "ms", "batch size", "ms per call"),
        (axes[1], "scaling: batch", "batch", "peak_mb", "batch size", "peak RSS (MB)"),
        (axes[2], "scaling: K (univl)", "k", "ms", "K (losses)", "ms per call"),
    ]
    for ax, section, xkey, ykey, xlabel, ylabel in series:
        groups = {}
        for rw in rows:
            if rw["section"] != section:
                continue
            prm = rw["params"]
            kind = " ".join(str(x) for x in (prm.get("backbone"),
                                             prm.get("kind") or prm.get("what")) if x)
            for side in ("meltr", "twin"):
                v = rw[side][ykey]
                if v is not None:
                    groups.setdefault(f"{side} {kind}", []).append((rw["params"][xkey], v))
        for name, pts in sorted(groups.items()):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                    linestyle="-" if name.startswith("meltr") else "--", label=name)
        if xkey == "batch":
            ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(section)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    progress(f"wrote {path}")


# ----------------------------------------------------------------- main --
def main(argv=None):
    ap = argparse.ArgumentParser(
        description="meltr vs its JAX peer twin: one process per measurement, one table")
    ap.add_argument("--meltr", default="target/release/meltr",
                    help="the meltr binary (default target/release/meltr, relative "
                         "to the current directory or else the repository root)")
    ap.add_argument("--python", default=sys.executable,
                    help="the Python that runs twin.py (with jax installed)")
    ap.add_argument("--threads", choices=["1", "all"], default="1",
                    help="1 (default): RAYON_NUM_THREADS=1 for meltr, single-threaded "
                         "XLA for the twin; all: both sides' defaults")
    ap.add_argument("--cpus", default=None,
                    help="pin every child process to these cores, e.g. 1 or 0,1 "
                         "(default with --threads 1: the first core this process "
                         "may use; with --threads all: no pinning)")
    ap.add_argument("--no-pin", action="store_true",
                    help="with --threads 1, do not pin meltr's processes (the twin "
                         "still pins itself to one core: its XLA needs it)")
    ap.add_argument("--quick", action="store_true",
                    help="fewer repetitions and sizes (batch 8,32,128; K 2,4,8,16)")
    ap.add_argument("--sections", default=None,
                    help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)")
    ap.add_argument("--head-reps", type=int, default=None)
    ap.add_argument("--step-reps", type=int, default=None,
                    help="at batch 32; scaled by 32/batch elsewhere")
    ap.add_argument("--meta-reps", type=int, default=None,
                    help="at batch 32; scaled by 32/batch elsewhere")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="seconds per child process (default 1800)")
    side = ap.add_mutually_exclusive_group()
    side.add_argument("--twin-only", action="store_true", help="run the twin's side only")
    side.add_argument("--meltr-only", action="store_true", help="run meltr's side only")
    ap.add_argument("--json", metavar="OUT", help="write every row (raw data included)")
    ap.add_argument("--csv", metavar="OUT", help="write the table as CSV")
    ap.add_argument("--plot", metavar="OUT.svg",
                    help="plot the scaling sections (needs matplotlib; skipped without)")
    args = ap.parse_args(argv)

    r = Runner(args)
    t0 = time.perf_counter()
    rows = build_rows(r, args)
    elapsed = time.perf_counter() - t0

    pinned = ",".join(str(c) for c in sorted(r.cpus)) if r.cpus else "not pinned"
    print(f"meltr vs JAX twin, threads={args.threads} (cpus: {pinned}); mean ms per call after "
          f"warm-up; MB = peak RSS of the measuring process "
          f"({r.count} processes, {elapsed:.0f} s)")
    print_table(rows)
    extras = sorted({(k, v) for rw in rows for k, v in rw["meltr"].get("extra", {}).items()
                     if v is not None}, key=str)
    if extras:
        print("meltr also reported: " + ", ".join(f"{k}={v}" for k, v in extras))
    if r.failures:
        print(f"\n{len(r.failures)} command(s) failed:")
        for side_name, cmd, err, tail in r.failures:
            print(f"- {side_name}: {' '.join(cmd)}\n  {err}")
            for ln in tail.splitlines():
                print(f"    | {ln}")
        if any(side_name == "meltr" and "unexpected argument" in tail
               for side_name, _, _, tail in r.failures):
            print("hint: this meltr binary lacks the `bench head --json --preset` / "
                  "`bench step --batch-size --tasks-count --only` options compare.py "
                  "uses; rebuild it (cargo build --release -p meltr-cli)")
    if MISSING:
        print(f"\n{len(MISSING)} output(s) lacked the value read:")
        for cmd, key in MISSING:
            print(f"- no `{key}` in the output of: {' '.join(cmd)}")
    if MISMATCHED:
        print(f"\n{len(MISMATCHED)} row(s) compare backbones of different sizes:")
        for label, mine, twin in MISMATCHED:
            print(f"- {label}: meltr has {mine} parameters, the twin {twin}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"threads": args.threads,
                       "cpus": sorted(r.cpus) if r.cpus else None, "quick": args.quick,
                       "meltr": r.meltr, "rows": rows,
                       "raw": [dict(v, side=k[0]) for k, v in r.cache.items()]},
                      fh, indent=1, default=str)
        progress(f"wrote {args.json}")
    if args.csv:
        write_csv(rows, args.csv)
        progress(f"wrote {args.csv}")
    if args.plot:
        plot(rows, args.plot)
    return 1 if r.failures or MISSING or MISMATCHED else 0


if __name__ == "__main__":
    sys.exit(main())
