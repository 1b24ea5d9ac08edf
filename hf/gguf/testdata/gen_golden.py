#!/usr/bin/env python3
# Golden-file generator for package github.com/nashmd/nashmd/hf/gguf.
#
# Pinned versions (the outputs in this directory were produced with exactly these):
#   python        3.11
#   gguf          0.10.0   (GGUFReader, GGUFWriter, gguf.quants.dequantize: llama.cpp's gguf-py)
#   transformers  4.46.3   (load_gguf_checkpoint: dequantise + un-permute + rename; GGUF tokenizer converter)
#   tokenizers    0.20.3
#   safetensors   0.4.5
#   torch         1.13.x (Debian build)
#   numpy         1.24.x
#
# Run from the repository root (make golden does, with NASHMD_ASSETS set):
#   /work/main/.venv/bin/python hf/gguf/testdata/gen_golden.py
#
# Writes, next to this script (all small; nothing here is produced by the Go code under test):
#
#   synthetic.gguf             a GGUF v3 file written byte by byte by write_gguf() below, straight from
#                              the GGUF spec: every metadata value type (all scalars, arrays of each,
#                              an empty array, nested arrays), general.alignment = 64, and small tensors
#                              of F32 (1-d and 3-d), F16 (incl. subnormals), BF16, Q4_0, Q4_1, Q5_0, Q5_1,
#                              Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K filled with random blocks (scale fields
#                              forced to finite halves), plus an IQ4_NL tensor the Go code does not
#                              dequantise. gguf-py's GGUFReader re-reads the file to check the layout.
#   synthetic.json             what GGUFReader says about synthetic.gguf: version, alignment, data
#                              offset, the metadata (key, type, value) and every tensor's type, dims
#                              (ggml order, innermost first) and data offset.
#   synthetic_values.safetensors  gguf-py's dequantised float32 values of every tensor except IQ4_NL,
#                              in Hugging Face shape (the ggml dims reversed).
#   tiny_qwen2.gguf            a 2-layer qwen2-architecture model written with gguf-py's GGUFWriter
#                              (F32 norms and biases, F16 and Q8_0 matrices, an untied output.weight,
#                              a small byte-level BPE vocabulary with control tokens).
#   permute.json               llama.cpp's convert_hf_to_gguf.py `permute` applied to arange data, for
#                              two (n_head, n_head_kv) settings: the Go inverse must undo it.
#   smollm2_golden.json        for the asset smollm2/SmolLM2-135M-Instruct.Q4_1.gguf:
#                              "gguf": GGUFReader's header, metadata (scalars in full; arrays as type,
#                                length, first/last items), all tensor infos, and for a handful of
#                                tensors of each type present (Q8_0, Q4_1, F32) gguf-py's dequantised
#                                values in GGUF row order: first/last 64, a strided sample, sum, sum of
#                                squares (float64).
#                              "hf": transformers' own GGUF import (load_gguf_checkpoint, which
#                                dequantises, undoes llama.cpp's q/k permutation and renames), loaded
#                                into LlamaForCausalLM: for EVERY state_dict tensor its shape, sum, sum of
#                                squares, sum of |x|, a position-weighted sum, first 8 values and values
#                                at 32 fixed indices (sums are permutation-invariant; the weighted sum
#                                and the samples are not, so they catch a wrong un-permutation).
#                              "hf_config": transformers' config built from the GGUF.
#                              "logits_for_lead": logits of an 8-id prompt (first/last 16 vocab entries
#                                and argmax per position), for a later model test; nothing reads them yet.
#                              "hf_tokenizer": transformers' GGUF-converted tokenizer.json, summarised:
#                                sha256 of the vocab and merges in canonical form, counts, first/last
#                                items, added tokens in full, and the normalizer / pre_tokenizer /
#                                post_processor / decoder / model flags as emitted.
#   tiny_qwen2_golden.json     the same "hf" and "hf_config" summaries for tiny_qwen2.gguf.
#   fuzz_seed_smollm2_head.bin the first 2048 bytes of the asset (a truncated header), a fuzz seed.
#
# Notes on transformers 4.46.3's GGUF import, which this generator works around and records:
#   - from_pretrained(gguf_file=...) requires `accelerate` (not in the golden venv), so the model is
#     built as from_pretrained builds it: AutoConfig.from_pretrained(gguf_file=...), then
#     load_gguf_checkpoint(..., return_tensors=True) and load_state_dict.
#   - its GGUF config never sets tie_word_embeddings, so for SmolLM2 (no output.weight) lm_head would
#     stay random; the generator sets tie_word_embeddings=True before building the model.
#   - its GGUF tokenizer converter for tokenizer.ggml.model == "gpt2" under architecture "llama" goes
#     through the SentencePiece (Llama) path: it ignores tokenizer.ggml.pre (always plain ByteLevel),
#     adds a BOS post-processor although tokenizer.ggml.add_bos_token is false, sets byte_fallback, and
#     swaps bos/eos in its extra kwargs. The Go test compares what must agree (vocab, merges, added
#     tokens and their special flags, the ByteLevel pre-tokenizer settings) and names these deviations.

import hashlib
import json
import os
import struct
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as QT
from gguf import GGUFReader, GGUFValueType as VT, GGUFWriter
from gguf.quants import dequantize, quantize

PINNED = {"gguf": "0.10.0", "transformers": "4.46.3", "tokenizers": "0.20.3", "safetensors": "0.4.5"}

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.environ.get("NASHMD_ASSETS") or os.path.join(HERE, "..", "..", "..", "third_party", "cache")
ASSET = os.path.join(ASSETS, "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


def check_versions():
    import importlib.metadata as md

    got = {k: md.version(k) for k in PINNED}
    if got != PINNED and "--force" not in sys.argv:
        sys.exit(f"version mismatch: pinned {PINNED}, running {got} (pass --force to override)")


def dump(name, obj):
    with open(os.path.join(HERE, name), "w") as fp:
        json.dump(obj, fp, indent=1, ensure_ascii=False)
        fp.write("\n")


def f64(x):
    """A JSON-safe float (finite values only are expected)."""
    x = float(x)
    assert np.isfinite(x), x
    return x


def floats(a):
    return [f64(v) for v in np.asarray(a, dtype=np.float64).ravel()]


# ---------------------------------------------------------------------------------------------
# A GGUF writer straight from the spec (little-endian, version 3).
# ---------------------------------------------------------------------------------------------

SCALAR_FMT = {
    VT.UINT8: "<B", VT.INT8: "<b", VT.UINT16: "<H", VT.INT16: "<h", VT.UINT32: "<I", VT.INT32: "<i",
    VT.FLOAT32: "<f", VT.BOOL: "<?", VT.UINT64: "<Q", VT.INT64: "<q", VT.FLOAT64: "<d",
}


def pack_str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def pack_val(vtype, val):
    if vtype in SCALAR_FMT:
        return struct.pack(SCALAR_FMT[vtype], val)
    if vtype == VT.STRING:
        return pack_str(val)
    if vtype == VT.ARRAY:
        etype, items = val
        return struct.pack("<IQ", etype, len(items)) + b"".join(pack_val(etype, x) for x in items)
    raise ValueError(vtype)


def write_gguf(path, kvs, tensors, alignment):
    """kvs: [(key, vtype, value)]; tensors: [(name, ggml_type, ne (innermost first), raw bytes)]."""
    out = bytearray()
    out += b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, vtype, val in kvs:
        out += pack_str(key) + struct.pack("<I", vtype) + pack_val(vtype, val)
    offset = 0
    offsets = []
    for name, qtype, ne, raw in tensors:
        offsets.append(offset)
        out += pack_str(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", qtype, offset)
        offset += len(raw)
        offset += -offset % alignment
    out += b"\0" * (-len(out) % alignment)
    for (name, qtype, ne, raw), off in zip(tensors, offsets):
        assert len(out) % alignment == 0
        out += raw
        out += b"\0" * (-len(out) % alignment)
    with open(path, "wb") as fp:
        fp.write(out)


def random_blocks(rng, qtype, n_blocks):
    """Random bytes for n_blocks blocks of qtype, with every f16 scale field set to a finite half."""
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, ts), dtype=np.uint8)

    def half(col, lo=-2.0, hi=2.0):
        raw[:, col:col + 2] = rng.uniform(lo, hi, size=(n_blocks, 1)).astype(np.float16).view(np.uint8)

    scale_cols = {
        QT.Q4_0: [0], QT.Q4_1: [0, 2], QT.Q5_0: [0], QT.Q5_1: [0, 2], QT.Q8_0: [0],
        QT.Q2_K: [80, 82],           # scales[16] qs[64] d dmin
        QT.Q3_K: [108],              # hmask[32] qs[64] scales[12] d
        QT.Q4_K: [0, 2],             # d dmin scales[12] qs[128]
        QT.Q5_K: [0, 2],             # d dmin scales[12] qh[32] qs[128]
        QT.Q6_K: [208],              # ql[128] qh[64] scales[16] d
        QT.IQ4_NL: [0],
    }[qtype]
    for c in scale_cols:
        half(c)
    return raw


def gen_synthetic(rng):
    kvs = [
        ("general.architecture", VT.STRING, "synthetic"),
        ("general.alignment", VT.UINT32, 64),
        ("test.uint8", VT.UINT8, 200),
        ("test.int8", VT.INT8, -100),
        ("test.uint16", VT.UINT16, 65000),
        ("test.int16", VT.INT16, -32000),
        ("test.uint32", VT.UINT32, 4000000000),
        ("test.int32", VT.INT32, -2000000000),
        ("test.float32", VT.FLOAT32, 1e-5),
        ("test.bool", VT.BOOL, True),
        ("test.string", VT.STRING, "h\u00e9llo \u2713 <b>&"),
        ("test.uint64", VT.UINT64, 18000000000000000000),
        ("test.int64", VT.INT64, -9000000000000000000),
        ("test.float64", VT.FLOAT64, -2.5e300),
        ("test.arr.uint8", VT.ARRAY, (VT.UINT8, [0, 1, 255])),
        ("test.arr.int8", VT.ARRAY, (VT.INT8, [-128, 0, 127])),
        ("test.arr.uint16", VT.ARRAY, (VT.UINT16, [0, 65535])),
        ("test.arr.int16", VT.ARRAY, (VT.INT16, [-32768, 32767])),
        ("test.arr.uint32", VT.ARRAY, (VT.UINT32, [7, 4294967295])),
        ("test.arr.int32", VT.ARRAY, (VT.INT32, [-1, 2, -3])),
        ("test.arr.float32", VT.ARRAY, (VT.FLOAT32, [0.5, -1.25, 3e38])),
        ("test.arr.bool", VT.ARRAY, (VT.BOOL, [True, False, True])),
        ("test.arr.string", VT.ARRAY, (VT.STRING, ["a", "", "\u00fc b"])),
        ("test.arr.uint64", VT.ARRAY, (VT.UINT64, [0, 18446744073709551615])),
        ("test.arr.int64", VT.ARRAY, (VT.INT64, [-9223372036854775808, 9223372036854775807])),
        ("test.arr.float64", VT.ARRAY, (VT.FLOAT64, [1.5, -0.0, 1e-300])),
        ("test.arr.empty", VT.ARRAY, (VT.INT32, [])),
        ("test.arr.nested", VT.ARRAY, (VT.ARRAY, [
            (VT.INT16, [1, -2]),
            (VT.STRING, ["x", "yz"]),
            (VT.ARRAY, [(VT.BOOL, [True]), (VT.UINT8, [])]),
        ])),
    ]

    tensors = []  # (name, type, ne, raw)
    f32vec = rng.standard_normal(5).astype(np.float32)
    tensors.append(("f32.vec", QT.F32, [5], f32vec.tobytes()))
    f323d = rng.standard_normal((2, 3, 4)).astype(np.float32)  # numpy (outermost first) = ne [4, 3, 2]
    tensors.append(("f32.3d", QT.F32, [4, 3, 2], f323d.tobytes()))
    f16 = rng.standard_normal((3, 8)).astype(np.float16)
    f16.ravel()[:8] = np.array([0.0, -0.0, 6e-8, -6e-8, 65504.0, 1e-5, -2.5, 3e-6], dtype=np.float16)
    tensors.append(("f16.mat", QT.F16, [8, 3], f16.tobytes()))
    bf16 = quantize(rng.standard_normal((3, 8)).astype(np.float32) * 1e3, QT.BF16)
    tensors.append(("bf16.mat", QT.BF16, [8, 3], bf16.tobytes()))
    for qtype, ne0 in [(QT.Q4_0, 64), (QT.Q4_1, 64), (QT.Q5_0, 64), (QT.Q5_1, 64), (QT.Q8_0, 64),
                       (QT.Q2_K, 256), (QT.Q3_K, 256), (QT.Q4_K, 512), (QT.Q5_K, 256), (QT.Q6_K, 512)]:
        rows = 3
        bs, _ = gguf.GGML_QUANT_SIZES[qtype]
        raw = random_blocks(rng, qtype, rows * ne0 // bs)
        tensors.append((qtype.name.lower() + ".mat", qtype, [ne0, rows], raw.tobytes()))
    raw = random_blocks(rng, QT.IQ4_NL, 1)
    tensors.append(("iq4_nl.mat", QT.IQ4_NL, [32, 1], raw.tobytes()))

    path = os.path.join(HERE, "synthetic.gguf")
    write_gguf(path, kvs, tensors, alignment=64)

    # Re-read with gguf-py: it must agree with what we meant to write.
    r = GGUFReader(path)
    assert r.alignment == 64, r.alignment
    meta = []
    for key, vtype, val in kvs:
        f = r.fields[key]
        assert f.types[0] == vtype, (key, f.types)
        meta.append({"key": key, "type": int(vtype), "value": json_value(vtype, val)})
        if vtype in SCALAR_FMT:
            got = f.parts[f.data[0]][0]
            assert got == val or (vtype == VT.FLOAT32 and got == np.float32(val)), (key, got, val)
        elif vtype == VT.STRING:
            assert bytes(f.parts[f.data[0]]).decode() == val
        elif val[0] != VT.ARRAY:
            etype, items = val
            assert f.types == ([VT.ARRAY, etype] if items else [VT.ARRAY]), (key, f.types)
            got = [decode_part(f.parts[i], etype) for i in f.data]
            want = [np.float32(x) if etype == VT.FLOAT32 else x for x in items]
            assert got == want, (key, got, want)
    infos = []
    values = {}
    by_name = {t.name: t for t in r.tensors}
    for name, qtype, ne, raw in tensors:
        t = by_name[name]
        assert t.tensor_type == qtype and list(t.shape) == ne, (name, t.tensor_type, t.shape)
        infos.append({"name": name, "type": int(qtype), "type_name": qtype.name, "dims": ne,
                      "data_offset": int(t.data_offset), "n_bytes": int(t.n_bytes)})
        if qtype == QT.IQ4_NL:
            continue
        v = dequantize(t.data, qtype).astype(np.float32).reshape(list(reversed(ne)))
        assert np.all(np.isfinite(v)), name
        values[name] = np.ascontiguousarray(v)
    dump("synthetic.json", {
        "version": 3, "alignment": int(r.alignment), "data_offset": int(r.data_offset),
        "file_size": os.path.getsize(path), "metadata": meta, "tensors": infos,
    })
    from safetensors.numpy import save_file
    save_file(values, os.path.join(HERE, "synthetic_values.safetensors"))


def decode_part(part, etype):
    if etype == VT.STRING:
        return bytes(part).decode()
    x = part[0]
    if etype == VT.BOOL:
        return bool(x)
    if etype in (VT.FLOAT32, VT.FLOAT64):
        return x
    return int(x)


def json_value(vtype, val):
    """The value as JSON: floats as numbers (float32 widened exactly), arrays as
    {"type": elem, "values": [...]}, nested arrays recursively."""
    if vtype == VT.FLOAT32:
        return float(np.float32(val))
    if vtype == VT.ARRAY:
        etype, items = val
        return {"type": int(etype), "values": [json_value(etype, x) for x in items]}
    return val


# ---------------------------------------------------------------------------------------------
# llama.cpp's permutation (convert_hf_to_gguf.py, LlamaModel.permute), verbatim in numpy.
# ---------------------------------------------------------------------------------------------

def llama_cpp_permute(weights, n_head, n_head_kv):
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def gen_permute():
    cases = []
    for rows, cols, n_head, n_head_kv in [(12, 3, 3, 3), (8, 2, 6, 2), (16, 1, 4, 4)]:
        w = np.arange(rows * cols, dtype=np.float32).reshape(rows, cols)
        # (8, 2, 6, 2): a k_proj with 2 kv heads of head_dim 4 in a model with 6 query heads.
        p = llama_cpp_permute(w, n_head, n_head_kv)
        cases.append({"rows": rows, "cols": cols, "n_head": n_head, "n_head_kv": n_head_kv,
                      "hf": floats(w), "gguf": floats(p)})
    dump("permute.json", {"cases": cases})


# ---------------------------------------------------------------------------------------------
# Summaries of transformers' import.
# ---------------------------------------------------------------------------------------------

N_SAMPLE = 32


def sample_idx(n):
    if n <= N_SAMPLE:
        return list(range(n))
    return [min(n - 1, (k * n) // N_SAMPLE + (k * 97) % max(1, n // N_SAMPLE)) for k in range(N_SAMPLE)]


def weights(n):
    return (np.arange(n, dtype=np.int64) % 1009).astype(np.float64) / 1009.0


def checksum(x):
    x = np.ascontiguousarray(x, dtype=np.float32).ravel()
    d = x.astype(np.float64)
    idx = sample_idx(x.size)
    return {
        "numel": int(x.size),
        "sum": f64(d.sum()), "sumsq": f64((d * d).sum()), "sumabs": f64(np.abs(d).sum()),
        "wsum": f64((d * weights(x.size)).sum()),
        "first": floats(x[:8]),
        "sample_idx": idx, "sample": floats(x[idx]),
    }


def hf_import(path, tie):
    import torch
    import transformers
    from transformers import AutoConfig
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    cfg = AutoConfig.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    cfg_json = json.loads(cfg.to_json_string())
    for k in ("_name_or_path", "_model_name_or_path"):  # machine-specific paths
        cfg_json.pop(k, None)
    tensors = load_gguf_checkpoint(path, return_tensors=True)["tensors"]
    cfg.tie_word_embeddings = tie
    cls = getattr(transformers, cfg.architectures[0]) if cfg.architectures else None
    if cls is None:
        cls = {"llama": transformers.LlamaForCausalLM, "qwen2": transformers.Qwen2ForCausalLM}[cfg.model_type]
    torch.manual_seed(0)
    model = cls(cfg).float().eval()
    res = model.load_state_dict(tensors, strict=False)
    want_missing = ["lm_head.weight"] if tie else []
    assert list(res.missing_keys) == want_missing and not res.unexpected_keys, res
    if tie:
        model.tie_weights()
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    sd = model.state_dict()
    hf = {}
    for name, t in sd.items():
        if tie and name == "lm_head.weight":
            continue  # tied: not a separate tensor (save_pretrained does not write it)
        d = checksum(t.detach().cpu().numpy())
        d["shape"] = list(t.shape)
        hf[name] = d
    return model, cfg_json, hf


def summarise_tokenizer(tok_json):
    s = json.loads(tok_json)
    model = s["model"]
    vocab = sorted(model["vocab"].items(), key=lambda kv: kv[1])
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    return {
        "vocab_size": len(vocab),
        "vocab_sha256": hashlib.sha256("".join(f"{i}\t{t}\n" for t, i in vocab).encode()).hexdigest(),
        "vocab_first": [[t, i] for t, i in vocab[:5]], "vocab_last": [[t, i] for t, i in vocab[-5:]],
        "merges_count": len(merges),
        "merges_sha256": hashlib.sha256("".join(m + "\n" for m in merges).encode()).hexdigest(),
        "merges_first": merges[:5], "merges_last": merges[-5:],
        "added_tokens": s["added_tokens"],
        "normalizer": s["normalizer"], "pre_tokenizer": s["pre_tokenizer"],
        "post_processor": s["post_processor"], "decoder": s["decoder"],
        "model": {k: v for k, v in model.items() if k not in ("vocab", "merges")},
    }


def field_json(f):
    types = [int(t) for t in f.types]
    if f.types[0] == VT.ARRAY:
        etype = f.types[1] if len(f.types) > 1 else None
        items = [decode_part(f.parts[i], etype) for i in f.data]
        items = [float(x) if isinstance(x, (np.floating,)) else x for x in items]
        return {"types": types, "len": len(items), "first": items[:3], "last": items[-3:]}
    v = decode_part(f.parts[f.data[0]], f.types[0])
    if isinstance(v, np.floating):
        v = float(v)
    return {"types": types, "value": v}


def gen_smollm2():
    import torch
    from transformers import AutoTokenizer

    r = GGUFReader(ASSET)
    meta = []
    for key, f in r.fields.items():
        if key.startswith("GGUF."):
            continue
        d = field_json(f)
        d["key"] = key
        meta.append(d)
    infos = [{"name": t.name, "type": int(t.tensor_type), "type_name": t.tensor_type.name,
              "dims": [int(d) for d in t.shape], "data_offset": int(t.data_offset), "n_bytes": int(t.n_bytes)}
             for t in r.tensors]
    pick = ["token_embd.weight",                                   # Q8_0
            "blk.0.attn_norm.weight", "blk.29.ffn_norm.weight", "output_norm.weight",  # F32
            "blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.ffn_down.weight",
            "blk.15.attn_v.weight", "blk.29.ffn_up.weight"]        # Q4_1
    by_name = {t.name: t for t in r.tensors}
    samples = {}
    for name in pick:
        t = by_name[name]
        v = dequantize(t.data, t.tensor_type).astype(np.float32).ravel()
        d = v.astype(np.float64)
        stride = v.size // 64
        samples[name] = {"type_name": t.tensor_type.name, "numel": int(v.size),
                         "first": floats(v[:64]), "last": floats(v[-64:]),
                         "stride": stride, "strided": floats(v[::stride][:64]),
                         "sum": f64(d.sum()), "sumsq": f64((d * d).sum())}
    version = int(r.fields["GGUF.version"].parts[-1][0])
    gguf_part = {"version": version, "tensor_count": len(r.tensors), "kv_count": len(meta),
                 "alignment": int(r.alignment), "data_offset": int(r.data_offset),
                 "file_size": os.path.getsize(ASSET), "metadata": meta, "tensors": infos,
                 "dequant_samples": samples}

    model, cfg_json, hf = hf_import(ASSET, tie="output.weight" not in by_name)

    tok = AutoTokenizer.from_pretrained(os.path.dirname(ASSET), gguf_file=os.path.basename(ASSET))
    tok_summary = summarise_tokenizer(tok.backend_tokenizer.to_str())
    tok_summary["init_kwargs"] = {k: v for k, v in tok.init_kwargs.items()
                                  if isinstance(v, (str, int, bool, type(None)))
                                  and k not in ("name_or_path", "vocab_file")}

    text = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n"
    ids = tok(text, add_special_tokens=False).input_ids[:8]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double().numpy()
    logits_part = {"note": "transformers' GGUF import of the asset, tie_word_embeddings=True, float32, "
                           "no attention mask, positions 0..7; not read by hf/gguf tests",
                   "text": text, "ids": ids, "vocab_size": int(logits.shape[1]),
                   "first16": [floats(row[:16]) for row in logits],
                   "last16": [floats(row[-16:]) for row in logits],
                   "argmax": [int(a) for a in logits.argmax(axis=1)]}
    dump("smollm2_golden.json", {"asset": "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "gguf": gguf_part,
                                 "hf_config": cfg_json, "hf": hf, "hf_tokenizer": tok_summary,
                                 "logits_for_lead": logits_part})

    with open(ASSET, "rb") as fp:
        head = fp.read(2048)
    with open(os.path.join(HERE, "fuzz_seed_smollm2_head.bin"), "wb") as fp:
        fp.write(head)


# ---------------------------------------------------------------------------------------------
# A tiny qwen2 model written with gguf-py's own writer.
# ---------------------------------------------------------------------------------------------

def byte_level_alphabet():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + \
        list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for _, c in sorted(zip(bs, cs))]


def gen_tiny_qwen2(rng):
    hidden, ff, n_layer, n_head, n_kv = 32, 64, 2, 4, 2
    head_dim = hidden // n_head
    tokens = byte_level_alphabet()
    merges = ["\u0120 t", "h e", "\u0120t he", "i n", "\u0120 a"]
    for m in merges:
        tokens.append(m.replace(" ", ""))
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens += specials + ["<tool_call>"]
    toktypes = [1] * (len(tokens) - 4) + [3, 3, 3, 4]
    vocab = len(tokens)

    path = os.path.join(HERE, "tiny_qwen2.gguf")
    w = GGUFWriter(path, "qwen2")
    w.add_name("tiny-qwen2")
    w.add_block_count(n_layer)
    w.add_context_length(256)
    w.add_embedding_length(hidden)
    w.add_feed_forward_length(ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_rope_freq_base(1000000.0)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_file_type(1)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types(toktypes)
    w.add_token_merges(merges)
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_pad_token_id(tokens.index("<|endoftext|>"))
    w.add_bos_token_id(tokens.index("<|endoftext|>"))
    w.add_add_bos_token(False)
    w.add_chat_template("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}")

    def f32(name, shape):
        w.add_tensor(name, (rng.standard_normal(shape) * 0.5).astype(np.float32))

    def f16(name, shape):
        w.add_tensor(name, (rng.standard_normal(shape) * 0.5).astype(np.float16))

    def q8(name, shape):
        w.add_tensor(name, quantize((rng.standard_normal(shape) * 0.5).astype(np.float32), QT.Q8_0),
                     raw_dtype=QT.Q8_0)

    q8("token_embd.weight", (vocab, hidden))
    for i in range(n_layer):
        p = f"blk.{i}."
        f32(p + "attn_norm.weight", (hidden,))
        q8(p + "attn_q.weight", (n_head * head_dim, hidden))
        f32(p + "attn_q.bias", (n_head * head_dim,))
        f16(p + "attn_k.weight", (n_kv * head_dim, hidden))
        f32(p + "attn_k.bias", (n_kv * head_dim,))
        q8(p + "attn_v.weight", (n_kv * head_dim, hidden))
        f32(p + "attn_v.bias", (n_kv * head_dim,))
        f16(p + "attn_output.weight", (hidden, n_head * head_dim))
        f32(p + "ffn_norm.weight", (hidden,))
        q8(p + "ffn_gate.weight", (ff, hidden))
        q8(p + "ffn_up.weight", (ff, hidden))
        q8(p + "ffn_down.weight", (hidden, ff))
    f32("output_norm.weight", (hidden,))
    f16("output.weight", (vocab, hidden))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    _, cfg_json, hf = hf_import(path, tie=False)
    dump("tiny_qwen2_golden.json", {"hf_config": cfg_json, "hf": hf, "vocab_size": vocab})


def main():
    check_versions()
    rng = np.random.default_rng(20240607)
    gen_synthetic(rng)
    gen_permute()
    gen_tiny_qwen2(rng)
    if not os.path.exists(ASSET):
        sys.exit(f"asset missing: {ASSET} (run make assets)")
    gen_smollm2()
    for name in sorted(os.listdir(HERE)):
        print(f"{os.path.getsize(os.path.join(HERE, name)):>9}  {name}")


if __name__ == "__main__":
    main()
