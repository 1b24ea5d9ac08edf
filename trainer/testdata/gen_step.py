#!/usr/bin/env python3
"""Writes trainer/testdata/step_golden.safetensors: one Nash-MD loss and its
gradients on the tiny Qwen2 of torch/testdata/models (policy) with the tiny
Llama as reference, for fixed completions and fixed judge probabilities.

An independent re-typing of TRL's NashMDTrainer._compute_logprobs and
_compute_losses (TRL 0.12.2) in plain PyTorch over transformers 4.46.3 models,
fp32. Positions come from the attention mask (cumsum - 1), as nashmd and
transformers' generate compute them (TRL's training forward passes none).
Also the paper's reward-to-go KL form (App. F) for kl_estimator="reward_to_go".
"""
import os

import torch
from safetensors.torch import save_file
from transformers import LlamaForCausalLM, Qwen2ForCausalLM

here = os.path.dirname(os.path.abspath(__file__))
models = os.path.join(here, "..", "..", "torch", "testdata", "models")
BETA = 0.1
P, T, PAD, EOS = 5, 6, 0, 7

prompt = torch.tensor([[11, 12, 13, 14, 15], [PAD, PAD, 21, 22, 23], [PAD, PAD, PAD, PAD, 31]])
pmask = (prompt != PAD).long()
y = torch.tensor([[40, 41, EOS, PAD, PAD, PAD], [50, 51, 52, 53, 54, 55], [60, EOS, PAD, PAD, PAD, PAD]])
ymask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]])
prob = torch.tensor([0.9, 0.3, 0.5])
ids = torch.cat([prompt, y], 1)
mask = torch.cat([pmask, ymask], 1)
pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)


def logprobs(m):
    logits = m(input_ids=ids, attention_mask=mask, position_ids=pos).logits[:, P - 1:-1]
    lp = torch.log_softmax(logits.float(), -1).gather(-1, ids[:, P:].unsqueeze(-1)).squeeze(-1)
    return lp.masked_fill(ymask == 0, 0.0)


out = {"prompt": prompt, "prompt_mask": pmask, "y": y, "y_mask": ymask, "prob": prob}
ref = LlamaForCausalLM.from_pretrained(os.path.join(models, "llama_tiny_tied"), attn_implementation="eager").eval()
with torch.no_grad():
    ref_lp = logprobs(ref)
for form in ("trl", "reward_to_go"):
    pol = Qwen2ForCausalLM.from_pretrained(os.path.join(models, "qwen2_tiny"), attn_implementation="eager").eval()
    lp = logprobs(pol)
    score = (prob - 0.5) * lp.sum(1)
    with torch.no_grad():
        log_ratio = lp - ref_lp
        kl = log_ratio.sum(1)
        if form == "reward_to_go":  # token t weighs the log-ratios at t' >= t
            log_ratio = log_ratio.flip(1).cumsum(1).flip(1)
    kl_loss = (log_ratio * lp).sum(1)
    loss = (BETA * kl_loss - score).mean()
    loss.backward()
    out[f"{form}.loss"] = loss.detach().reshape(1)
    out[f"{form}.score"] = score.detach()
    out[f"{form}.kl"] = kl
    out[f"{form}.logp"] = lp.detach()
    for name in ("model.layers.1.mlp.down_proj.weight", "model.embed_tokens.weight"):
        out[f"{form}.grad.{name}"] = dict(pol.named_parameters())[name].grad.clone()
out["ref_logp"] = ref_lp
save_file(out, os.path.join(here, "step_golden.safetensors"),
          metadata={"generator": "trainer/testdata/gen_step.py", "beta": str(BETA), "torch": torch.__version__})
print("wrote step_golden.safetensors")
