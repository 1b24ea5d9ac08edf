#!/usr/bin/env python3
"""Writes torch/testdata/optim_golden.safetensors: three steps of
torch.optim.AdamW (foreach=False) with torch.nn.utils.clip_grad_norm_ on two
parameters, from fixed gradients. Reference: Debian's PyTorch 1.13.1."""
import os

import torch
from safetensors.torch import save_file

g = torch.Generator().manual_seed(5)
p0 = torch.randn(4, 3, generator=g)
p1 = torch.randn(5, generator=g)
grads = [[torch.randn(4, 3, generator=g) * s, torch.randn(5, generator=g) * s] for s in (0.3, 3.0, 0.05)]
lrs = [1e-2, 5e-3, 2e-2]
a, b = p0.clone().requires_grad_(True), p1.clone().requires_grad_(True)
opt = torch.optim.AdamW([a, b], lr=1.0, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1, foreach=False)
out = {"p0": p0, "p1": p1}
for k, (gr, lr) in enumerate(zip(grads, lrs)):
    out[f"step{k}.g0"], out[f"step{k}.g1"] = gr
    opt.zero_grad()
    ((a * gr[0]).sum() + (b * gr[1]).sum()).backward()
    norm = torch.nn.utils.clip_grad_norm_([a, b], max_norm=1.0)
    for group in opt.param_groups:
        group["lr"] = lr
    opt.step()
    out[f"step{k}.norm"] = norm.reshape(1).double()
    out[f"step{k}.lr"] = torch.tensor([lr], dtype=torch.float64)
    out[f"step{k}.want0"], out[f"step{k}.want1"] = a.detach().clone(), b.detach().clone()
save_file(out, os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim_golden.safetensors"),
          metadata={"generator": "torch/testdata/gen_optim.py", "torch": torch.__version__,
                    "weight_decay": "0.1", "max_grad_norm": "1.0"})
print("wrote optim_golden.safetensors")
