#!/usr/bin/env python3
"""Loads directories saved by nashmd (go test -run SaveLoad with
NASHMD_KEEP_SAVED=DIR) with transformers' AutoModelForCausalLM and checks the
logits against the golden ones. A manual check, not part of go test:

    NASHMD_KEEP_SAVED=/tmp/saved go test -run SaveLoad ./torch
    .venv/bin/python torch/testdata/check_saved.py /tmp/saved
"""
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

root = sys.argv[1]
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
worst = 0.0
for name in sorted(os.listdir(root)):
    m = AutoModelForCausalLM.from_pretrained(os.path.join(root, name), attn_implementation="eager").eval()
    g = load_file(os.path.join(here, name, "golden.safetensors"))
    with torch.no_grad():
        logits = m(input_ids=g["ids"], attention_mask=g["mask"], position_ids=g["positions"]).logits
    d = ((logits - g["logits"]).abs().amax(-1) * g["mask"]).max().item()
    worst = max(worst, d)
    print(f"{name}: transformers loads it ({type(m).__name__}); logits max abs diff {d:.3g}")
sys.exit(0 if worst <= 1e-4 else 1)
