#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/TARGET/:
small valid files made by the `meltr` binary (or by hand, for a head
smaller than any preset), plus a few edits of each (truncated, one bit
flipped, another file's format).

    cargo build -p meltr-cli && python3 fuzz/make_corpus.py

MELTR names the binary (default: target/debug/meltr).
"""
import gzip
import json
import os
import random
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
MELTR = os.environ.get("MELTR", str(ROOT / "target" / "debug" / "meltr"))
rng = random.Random(0)


def meltr(*args):
    subprocess.run([MELTR, *map(str, args)], check=True, stdout=subprocess.DEVNULL)


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def edits(target, name, data):
    """The file, and the file truncated and with one bit flipped."""
    put(target, name, data)
    put(target, "truncated-" + name, data[: len(data) * 2 // 3])
    flipped = bytearray(data)
    i = rng.randrange(len(flipped))
    flipped[i] ^= 1 << rng.randrange(8)
    put(target, "flipped-" + name, bytes(flipped))


def tiny_head(k):
    """A head with h1 = 4, d = 32, f = 4, the smallest the exporter takes."""
    h1, d, f = 4, 32, 4
    shapes = [
        ("task_embedding.weight", [k, d]), ("loss_fc1.weight", [h1, 1]),
        ("loss_fc1.bias", [h1]), ("loss_fc2.weight", [d, h1]), ("loss_fc2.bias", [d]),
        ("encoder.self_attn.in_proj_weight", [3 * d, d]),
        ("encoder.self_attn.in_proj_bias", [3 * d]),
        ("encoder.self_attn.out_proj.weight", [d, d]),
        ("encoder.self_attn.out_proj.bias", [d]),
        ("encoder.linear1.weight", [f, d]), ("encoder.linear1.bias", [f]),
        ("encoder.linear2.weight", [d, f]), ("encoder.linear2.bias", [d]),
        ("encoder.norm1.weight", [d]), ("encoder.norm1.bias", [d]),
        ("encoder.norm2.weight", [d]), ("encoder.norm2.bias", [d]), ("fc1.weight", [1, d]),
    ]
    header, data = {"__metadata__": {"format": "meltr-head/1"}}, b""
    for name, shape in shapes:
        n = 1
        for s in shape:
            n *= s
        values = [1.0 if "norm" in name and "weight" in name else rng.uniform(-0.3, 0.3) for _ in range(n)]
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + 4 * n]}
        data += struct.pack(f"<{n}f", *values)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def main():
    shutil.rmtree(CORPUS, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        head = tiny_head(3)
        (tmp / "head.safetensors").write_bytes(head)
        for target in ["load_weights", "export_head"]:
            edits(target, "tiny-k3.safetensors", head)
            put(target, "tiny-k1.safetensors", tiny_head(1))

        meltr("export", "--weights", tmp / "head.safetensors", "--out", tmp / "head.wasm")
        meltr("export", "--weights", tmp / "head.safetensors", "--out", tmp / "scalar.wasm", "--simd", "scalar")
        wasm = (tmp / "head.wasm").read_bytes()
        edits("load_artifact", "tiny-k3.wasm", wasm)
        put("load_artifact", "scalar-k3.wasm", (tmp / "scalar.wasm").read_bytes())
        put("load_artifact", "interface-7.wasm", wasm.replace(b"meltr-head/1", b"meltr-head/7", 1))

        # call_artifact: a selector byte, then K = 3 losses.
        for i, losses in enumerate([[1, 2, 3], [0, 0, 0], [1e30, -1e30, 1e-30], [float("nan"), 1, float("inf")], [1, 2], [1] * 17]):
            put("call_artifact", f"call-{i}", bytes([i % 4]) + struct.pack(f"<{len(losses)}f", *losses))

        # A tiny image backbone, a short run on it with the plain sum, and the
        # digits run with a MELTR head (its log).
        (tmp / "pretrain.toml").write_text(
            'preset = "digits-tiny"\nsteps = 2\n[backbone]\nwidth = 2\nblocks = 0\n'
        )
        meltr("pretrain", "--quiet", "--config", tmp / "pretrain.toml", "--out", tmp / "backbone.safetensors")
        backbone = (tmp / "backbone.safetensors").read_bytes()
        edits("load_backbone", "image-w2.safetensors", backbone)
        put("load_backbone", "a-head.safetensors", head)
        (tmp / "run.toml").write_text(
            f'preset = "digits-tiny"\nepochs = 1\nbackbone = "{tmp / "backbone.safetensors"}"\n'
            '[meta_loss]\ntype = "sum"\n'
        )
        meltr("train", "--quiet", "--config", tmp / "run.toml", "--out", tmp / "run")
        checkpoint = (tmp / "run" / "checkpoint.safetensors").read_bytes()
        edits("load_checkpoint", "sum-run.safetensors", checkpoint)
        put("load_checkpoint", "a-backbone.safetensors", backbone)
        meltr("train", "--quiet", "--preset", "digits-tiny", "--out", tmp / "meltr-run")
        log = (tmp / "meltr-run" / "log.jsonl").read_text()
        put("training_log", "digits-tiny.jsonl", b"\x02" + log.encode())
        put("training_log", "few-lines.jsonl", b"\x02" + "\n".join(log.splitlines()[:6]).encode())
        put("training_log", "example.jsonl", b"\x01" + b'{"step": 0, "weights": [1.0, 0.5], "losses": [2.0, 3.0]}\n{"epoch": 0}\n')

    # Run files: the built-in presets, and pretraining run files.
    for p in sorted((ROOT / "src" / "train" / "presets").glob("*.toml")):
        put("run_file", p.name, p.read_text())
    put("run_file", "own-tasks.toml", 'preset = "tiny"\ntasks = ["align", "cmlm"]\nprimary = "align"\n[meta_loss]\ntype = "weighted"\nweights = [1.0, 0.5]\n')
    put("run_file", "pretrain.toml", 'preset = "digits-tiny"\nsteps = 2\n[backbone]\nwidth = 2\nblocks = 0\n[[tasks]]\nname = "rotation"\n')

    # Digits: the first rows of the built-in file, compressed and plain.
    text = gzip.decompress((ROOT / "src" / "domains" / "digits" / "digits.csv.gz").read_bytes()).decode()
    rows = "\n".join(text.splitlines()[:12]) + "\n"
    edits("digits_csv", "rows.csv.gz", gzip.compress(rows.encode(), mtime=0))
    put("digits_csv", "rows.csv", rows)


if __name__ == "__main__":
    main()
