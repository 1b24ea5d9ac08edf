#!/usr/bin/env python3
"""Writes tiny random Llama-family models and their transformers outputs into
torch/testdata/models/<name>/ (config.json, model.safetensors, golden.safetensors).

Reference: Hugging Face transformers 4.46.3 (eager attention) on Debian's
PyTorch 1.13.1, fp32. go test ./torch compares our libtorch model against it:
logits at real (non-pad) positions, next-token log-probs at temperature 0.7,
and reward-model scores. Inputs use LEFT padding; position ids are passed as
transformers' generate computes them (cumsum(mask) - 1, pads set to 1).
"""
import os
import shutil

import torch
import transformers
import transformers.generation.utils as gen_utils
from safetensors.torch import save_file
from transformers import (LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM,
                          Qwen2ForSequenceClassification)

# Debian's torch 1.13 cannot import torch.distributed.fsdp under Python 3.11;
# generate() only asks whether the model is FSDP-wrapped. It is not.
gen_utils.is_fsdp_managed_module = lambda m: False

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
TEMPERATURE = 0.7


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def inputs(vocab, pad, seed):
    g = torch.Generator().manual_seed(seed)
    B, L = 3, 9
    ids = torch.randint(1, vocab, (B, L), generator=g)
    mask = torch.ones(B, L, dtype=torch.long)
    for b, npad in enumerate([0, 3, 6]):
        mask[b, :npad] = 0
        ids[b, :npad] = pad
    pos = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    return ids, mask, pos


def write(name, model, cfg, seed):
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    randomise(model, seed)
    model.eval()
    model.save_pretrained(d, safe_serialization=True)
    pad = cfg.pad_token_id if cfg.pad_token_id is not None else 0
    ids, mask, pos = inputs(cfg.vocab_size, pad, seed + 1)
    out = {"ids": ids, "mask": mask, "positions": pos}
    with torch.no_grad():
        if isinstance(model, Qwen2ForSequenceClassification):
            out["score"] = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
        else:
            logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
            out["logits"] = logits
            targets = torch.roll(ids, -1, 1)
            lp = torch.log_softmax(logits / TEMPERATURE, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            out["targets"] = targets
            out["logprobs_t0.7"] = lp
            # Greedy generation with left padding: first without EOS, then with
            # the token row 1 produced at step 4 as EOS, so rows stop early.
            P, N = ids.shape[1], 12
            g = model.generate(ids, attention_mask=mask, max_new_tokens=N, do_sample=False,
                               pad_token_id=pad, eos_token_id=None)[:, P:]
            eos = int(g[1, 4])
            ge = model.generate(ids, attention_mask=mask, max_new_tokens=N, do_sample=False,
                                pad_token_id=pad, eos_token_id=eos)[:, P:]
            out["greedy"] = g
            out["greedy_eos"] = ge
            out["greedy_eos_id"] = torch.tensor([eos])
    save_file({k: v.contiguous() for k, v in out.items()}, os.path.join(d, "golden.safetensors"),
              metadata={"generator": "torch/testdata/gen_models.py", "transformers": transformers.__version__,
                        "torch": torch.__version__, "temperature": str(TEMPERATURE)})
    print("wrote", d)


common = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              max_position_embeddings=64, attn_implementation="eager")

cfg = Qwen2Config(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                  rope_theta=10000.0, rms_norm_eps=1e-6, pad_token_id=0, bos_token_id=1, eos_token_id=2, **common)
write("qwen2_tiny", Qwen2ForCausalLM(cfg), cfg, 1)

cfg = LlamaConfig(num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=True,
                  rms_norm_eps=1e-5, pad_token_id=0, bos_token_id=1, eos_token_id=[2, 3], **common)
write("llama_tiny_tied", LlamaForCausalLM(cfg), cfg, 2)

c3 = dict(common, hidden_size=48)
cfg = LlamaConfig(num_attention_heads=4, num_key_value_heads=2, head_dim=16, tie_word_embeddings=False,
                  rope_theta=50000.0, rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 8},
                  pad_token_id=0, **c3)
write("llama_rope3_headdim", LlamaForCausalLM(cfg), cfg, 3)

cfg = Qwen2Config(num_attention_heads=4, num_key_value_heads=2, num_labels=1, pad_token_id=0,
                  architectures=["Qwen2ForSequenceClassification"], **common)
write("qwen2_reward", Qwen2ForSequenceClassification(cfg), cfg, 4)


# Nash-MD mixture, greedy: y'_t = argmax((1-β)·l_policy + β·l_ref) with both
# models re-run on the whole prefix each step (no cache), β = 0.5.
def mixture_greedy(policy, ref, ids, mask, beta, n):
    cur, m = ids.clone(), mask.clone()
    outs = []
    with torch.no_grad():
        for _ in range(n):
            pos = (m.cumsum(-1) - 1).masked_fill(m == 0, 1)
            lp = policy(input_ids=cur, attention_mask=m, position_ids=pos).logits[:, -1]
            lr = ref(input_ids=cur, attention_mask=m, position_ids=pos).logits[:, -1]
            tok = ((1 - beta) * lp + beta * lr).argmax(-1)
            outs.append(tok)
            cur = torch.cat([cur, tok[:, None]], 1)
            m = torch.cat([m, torch.ones_like(tok)[:, None]], 1)
    return torch.stack(outs, 1)


pol = Qwen2ForCausalLM.from_pretrained(os.path.join(HERE, "qwen2_tiny"), attn_implementation="eager").eval()
ref = LlamaForCausalLM.from_pretrained(os.path.join(HERE, "llama_tiny_tied"), attn_implementation="eager").eval()
ids, mask, _ = inputs(96, 0, 2)
save_file({"ids": ids, "mask": mask, "mix_greedy_0.5": mixture_greedy(pol, ref, ids, mask, 0.5, 10)},
          os.path.join(HERE, "mixture_golden.safetensors"),
          metadata={"generator": "torch/testdata/gen_models.py", "policy": "qwen2_tiny", "ref": "llama_tiny_tied",
                    "mixture_coef": "0.5", "transformers": transformers.__version__})
print("wrote mixture_golden.safetensors")
