#!/usr/bin/env python3
# Golden-file generator for package github.com/nashmd/nashmd/hf/safetensors.
#
# Pinned versions (the outputs in this directory were produced with exactly these):
#   python      3.11
#   safetensors 0.4.5   (official writer: safetensors.torch.save_file, Rust core)
#   torch       1.13.0a0 (Debian build)
#   numpy       1.24.2
#
# Run from the repository root:
#   /work/main/.venv/bin/python hf/safetensors/testdata/gen_golden.py
#
# Writes, next to this script:
#   reference.safetensors        one file with many dtypes, a 0-d scalar, an empty tensor,
#                                and __metadata__
#   reference_values.json        what Python (not the Go code under test) says the file holds:
#                                sha256 of the file, header length, metadata, and for every
#                                tensor its dtype, shape, data_offsets (read from the header
#                                with Python's json module) and its element values in
#                                row-major order. Floats are the exact value of each element
#                                (bf16/f16 widened exactly to a Python float); non-finite
#                                floats are the strings "inf", "-inf", "nan".
#   sharded/                     a two-shard checkpoint laid out as transformers'
#                                save_pretrained does it: model-0000K-of-00002.safetensors
#                                and model.safetensors.index.json (json.dumps(index, indent=2,
#                                sort_keys=True) + "\n"), plus sharded/values.json in the
#                                same format as reference_values.json.
#
# The tensors are built from literal values (no RNG), so the data buffers, the shards and
# values.json are reproducible byte for byte. reference.safetensors is not: the Rust writer
# keeps __metadata__ in a HashMap, so the order of its five keys (and hence the file's
# sha256) changes from run to run. Always regenerate and commit reference.safetensors and
# reference_values.json together; the Go tests check the sha256 recorded in the latter.

import hashlib
import json
import math
import os
import struct
import sys

import numpy
import safetensors
import torch
from safetensors.torch import save_file

PINNED = {"safetensors": "0.4.5", "torch": "1.13.0a0", "numpy": "1.24.2"}

HERE = os.path.dirname(os.path.abspath(__file__))


def check_versions():
    got = {
        "safetensors": safetensors.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }
    if got != PINNED and "--force" not in sys.argv:
        sys.exit(f"version mismatch: pinned {PINNED}, running {got} (pass --force to override)")
    return got


def jsonable(v):
    """One element as Python computes it."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    raise TypeError(type(v))


def values_of(t):
    if t.dtype in (torch.bfloat16, torch.float16):
        # Exact: every bf16/f16 value is representable as a float32 and a float64.
        flat = t.to(torch.float32).reshape(-1).tolist()
    else:
        flat = t.reshape(-1).tolist()
    return [jsonable(v) for v in flat]


def read_header(path):
    with open(path, "rb") as fh:
        raw = fh.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    return raw, n, header


def describe(path, tensors):
    raw, n, header = read_header(path)
    out = {
        "file": os.path.basename(path),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "size": len(raw),
        "header_len": n,
        "metadata": header.get("__metadata__"),
        "tensors": {},
    }
    for name, t in tensors.items():
        info = header[name]
        out["tensors"][name] = {
            "dtype": info["dtype"],
            "shape": list(t.shape),
            "data_offsets": info["data_offsets"],
            "values": values_of(t),
        }
    return out


def reference_tensors():
    inf, nan = float("inf"), float("nan")
    return {
        # bf16: ordinary values, values that round, extremes, a float32-range subnormal.
        "bf16.weight": torch.tensor(
            [[1.0, -2.5, 0.1, 3.14159265], [1e-3, -65504.0, 3.0e38, 1e-40]],
            dtype=torch.bfloat16,
        ),
        "bf16.special": torch.tensor([inf, -inf, nan, -0.0], dtype=torch.bfloat16),
        # f16: rounding, max finite, subnormals, specials.
        "f16.weight": torch.tensor(
            [[0.5, -1.0, 0.1, 65504.0, 6e-8], [1e-5, inf, -inf, nan, -0.0]],
            dtype=torch.float16,
        ),
        "f32.weight": torch.tensor(
            [[1.5, -0.0, 1e-45], [3.4028235e38, 0.1, -7.25]], dtype=torch.float32
        ),
        "f32.cube": torch.tensor(
            [[[1.0, 2.0, 3.0]], [[4.0, 5.0, 6.0]]], dtype=torch.float32
        ),
        "f64.values": torch.tensor([0.1, -1e308, 5e-324, 2.0 / 3.0], dtype=torch.float64),
        "i64.ids": torch.tensor(
            [0, -1, 2**62 + 1, -(2**63), 2**63 - 1], dtype=torch.int64
        ),
        "i32.ids": torch.tensor([[-2147483648, 2147483647], [0, 7]], dtype=torch.int32),
        "i16.small": torch.tensor([-32768, 32767, -2], dtype=torch.int16),
        "i8.tiny": torch.tensor([-128, 127, -1], dtype=torch.int8),
        "u8.bytes": torch.tensor([0, 1, 127, 128, 254, 255], dtype=torch.uint8),
        "bool.mask": torch.tensor(
            [[True, False, True], [True, False, False]], dtype=torch.bool
        ),
        "scalar": torch.tensor(3.25, dtype=torch.float32),  # 0-d: shape []
        "empty": torch.zeros([0], dtype=torch.float32),  # shape [0], zero bytes
    }


def sharded_tensors():
    shard1 = {
        "model.embed_tokens.weight": torch.tensor(
            [[0.25, -0.5], [1.0, 2.0], [-3.0, 4.5], [8.0, -16.0]], dtype=torch.float32
        ),
        "model.layers.0.weight": torch.tensor(
            [[1.0, -1.5], [0.1, 100.0]], dtype=torch.bfloat16
        ),
    }
    shard2 = {
        "model.layers.1.weight": torch.tensor([[0.5, -0.25], [2.0, 0.1]], dtype=torch.float16),
        "model.layers.1.bias": torch.tensor([7, -9], dtype=torch.int64),
        "lm_head.weight": torch.tensor(
            [[1.0, 2.0, 3.0, 4.0], [-1.0, -2.0, -3.0, -4.0]], dtype=torch.float32
        ),
    }
    return [shard1, shard2]


def main():
    versions = check_versions()

    ref = reference_tensors()
    ref_path = os.path.join(HERE, "reference.safetensors")
    meta = {
        "format": "pt",
        "generator": "gen_golden.py",
        "safetensors": versions["safetensors"],
        "torch": versions["torch"],
        "numpy": versions["numpy"],
    }
    save_file(ref, ref_path, metadata=meta)
    with open(os.path.join(HERE, "reference_values.json"), "w") as fh:
        json.dump(describe(ref_path, ref), fh, indent=1, sort_keys=True)
        fh.write("\n")

    # Sharded checkpoint, the way transformers' save_pretrained writes it.
    sdir = os.path.join(HERE, "sharded")
    os.makedirs(sdir, exist_ok=True)
    shards = sharded_tensors()
    weight_map = {}
    total_size = 0
    described = {"shards": {}}
    for i, shard in enumerate(shards, start=1):
        fname = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        path = os.path.join(sdir, fname)
        save_file(shard, path, metadata={"format": "pt"})
        for name, t in shard.items():
            weight_map[name] = fname
            total_size += t.numel() * t.element_size()
        described["shards"][fname] = describe(path, shard)
    index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
    with open(os.path.join(sdir, "model.safetensors.index.json"), "w", encoding="utf-8") as fh:
        fh.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    with open(os.path.join(sdir, "values.json"), "w") as fh:
        json.dump(described, fh, indent=1, sort_keys=True)
        fh.write("\n")


if __name__ == "__main__":
    main()
