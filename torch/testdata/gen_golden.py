#!/usr/bin/env python3
"""Writes torch/testdata/golden.safetensors: inputs and expected outputs of the
ops the Go `torch` package exposes, computed by plain PyTorch (the independent
reference). `go test ./torch` reads the file; it never runs Python.

Pinned (run through `make golden`, which makes .venv from Debian's python3):
    torch 1.13.1 (Debian python3-torch 1.13.1+dfsg-4), safetensors 0.4.5.
The versions actually used are also written into the file's __metadata__.

Naming: "<case>.in.<k>" are inputs, "<case>.want" the expected output,
"<case>.grad.<k>" expected gradients of a scalar loss w.r.t. input k.
"""
import os
import platform

import safetensors
import torch
from safetensors.torch import save_file

g = torch.Generator().manual_seed(20261204)
out = {}


def randn(*shape, dtype=torch.float32):
    return torch.randn(*shape, generator=g, dtype=torch.float32).to(dtype)


def put(case, inputs, want, grads=None):
    for k, v in inputs.items():
        out[f"{case}.in.{k}"] = v.detach().clone().contiguous()
    out[f"{case}.want"] = want.detach().contiguous()
    for k, v in (grads or {}).items():
        out[f"{case}.grad.{k}"] = v.detach().contiguous()


# log_softmax / softmax over the last dim of a (B, T, V) tensor.
x = randn(4, 7, 33) * 3
put("log_softmax", {"x": x}, torch.log_softmax(x, -1))
put("softmax", {"x": x}, torch.softmax(x, -1))

# Selective log-softmax, TRL's formula: log_softmax(logits).gather(-1, ids).
# Reference path materialises the full log-softmax; ours must not need to.
logits = randn(3, 5, 101) * 4
ids = torch.randint(0, 101, (3, 5), generator=g)
put("selective_log_softmax", {"logits": logits, "ids": ids},
    torch.log_softmax(logits, -1).gather(-1, ids.unsqueeze(-1)).squeeze(-1))

# bf16 logits: the reference upcasts to float32 first (as our kernel does).
logits16 = randn(2, 6, 77, dtype=torch.bfloat16) * 4
ids16 = torch.randint(0, 77, (2, 6), generator=g)
put("selective_log_softmax_bf16", {"logits": logits16, "ids": ids16},
    torch.log_softmax(logits16.float(), -1).gather(-1, ids16.unsqueeze(-1)).squeeze(-1))

# Its gradient: loss = Σ w ⊙ logp, d loss / d logits.
lg = (randn(2, 4, 50) * 2).requires_grad_(True)
idg = torch.randint(0, 50, (2, 4), generator=g)
w = randn(2, 4)
lp = torch.log_softmax(lg, -1).gather(-1, idg.unsqueeze(-1)).squeeze(-1)
(lp * w).sum().backward()
put("selective_log_softmax_grad", {"logits": lg, "ids": idg, "w": w}, lp, {"logits": lg.grad})

# matmul: plain and batched-broadcast.
a, b = randn(16, 24), randn(24, 8)
put("matmul", {"a": a, "b": b}, a @ b)
a, b = randn(2, 3, 5, 4), randn(4, 6)
put("matmul_batched", {"a": a, "b": b}, torch.matmul(a, b))

# Elementwise and reductions.
x = randn(5, 6)
y = randn(5, 6)
put("sigmoid", {"x": x}, torch.sigmoid(x))
put("exp", {"x": x}, torch.exp(x))
put("log", {"x": x.abs() + 0.1}, torch.log(x.abs() + 0.1))
put("add", {"a": x, "b": y[:1]}, x + y[:1])
put("div", {"a": x, "b": y.abs() + 0.5}, x / (y.abs() + 0.5))
put("sum_dim", {"x": x}, x.sum(1))
put("mean_dim_keep", {"x": x}, x.mean(0, keepdim=True))
put("max_dim", {"x": x}, x.max(1).values)
put("argmax", {"x": x}, x.argmax(1))
put("logsumexp", {"x": x}, torch.logsumexp(x, 1))
mask = x > 0.5
put("masked_fill", {"x": x, "mask": mask}, x.masked_fill(mask, -1e4))
put("where", {"c": mask, "a": x, "b": y}, torch.where(mask, x, y))
idx = torch.randint(0, 6, (5, 3), generator=g)
put("gather", {"x": x, "index": idx}, x.gather(1, idx))
sel = torch.tensor([4, 0, 2])
put("index_select", {"x": x, "index": sel}, x.index_select(0, sel))
put("cat", {"a": x, "b": y}, torch.cat([x, y], 1))
put("stack", {"a": x, "b": y}, torch.stack([x, y], 0))
put("transpose", {"x": x}, x.t().contiguous())

# A small training-shaped gradient: loss = mean(sigmoid(x @ w)), d/dw.
xw = randn(8, 5)
ww = randn(5, 3).requires_grad_(True)
loss = torch.sigmoid(xw @ ww).mean()
loss.backward()
put("mlp_grad", {"x": xw, "w": ww}, loss, {"w": ww.grad})

here = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(here, "golden.safetensors")
meta = {
    "generator": "torch/testdata/gen_golden.py",
    "torch": torch.__version__,
    "safetensors": safetensors.__version__,
    "python": platform.python_version(),
}
save_file(out, path, metadata=meta)
print(f"wrote {len(out)} tensors to {path} ({meta})")
