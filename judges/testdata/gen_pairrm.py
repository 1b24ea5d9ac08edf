#!/usr/bin/env python3
"""Writes judges/testdata/pairrm/: a tiny random PairRM-shaped directory (a
DeBERTa-v3-style encoder under "pretrained_model.", the pair-ranker head
"head_layer.{1,4}", a SentencePiece Unigram tokenizer with PairRM's prefix
tokens) and judges/testdata/pairrm_golden.json: P(a ≻ b) for some pairs.

The reference is an independent PyTorch re-typing of llm-blender's
DebertaV2PairRM forward (keep non-pad columns, gather the hidden states at
the <|source|>, <|candidate1|>, <|candidate2|> tokens, head on [src; cand],
mean of left − right over tasks) over transformers' DebertaV2Model, with
inputs built as PairRM-hf's tokenize_pair does, and TRL's PairRMJudge
probability for two candidates: llm-blender's scores are the row means of
C − Cᵀ, so softmax(scores / T)[0] = σ((C[a,b] − C[b,a]) / T).
Pinned: transformers 4.46.3, tokenizers 0.20.3, sentencepiece 0.2.0, torch 1.13.1.
"""
import json
import os
import shutil

import torch
from safetensors.torch import save_file
from transformers import DebertaV2Config, DebertaV2Model, DebertaV2TokenizerFast

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "pairrm")
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)

spm = os.path.join(here, "..", "..", "hf", "tokenizer", "testdata", "unigram", "spm.model")
tok = DebertaV2TokenizerFast(tokenizer_file=os.path.join(os.path.dirname(spm), "tokenizer.json"), vocab_file=spm)
prefixes = ["<|source|>", "<|candidate1|>", "<|candidate2|>", "<|candidate|>"]
tok.add_tokens(prefixes)
tok.save_pretrained(out)
os.remove(os.path.join(out, "spm.model"))  # tokenizer.json is what the Go judge reads
src_id, c1_id, c2_id, c_id = tok.convert_tokens_to_ids(prefixes)

H, TASKS = 32, 3
cfg = DebertaV2Config(vocab_size=len(tok), hidden_size=H, num_hidden_layers=2, num_attention_heads=4,
                      intermediate_size=64, max_position_embeddings=512, relative_attention=True,
                      position_buckets=16, max_relative_positions=64, pos_att_type=["p2c", "c2p"],
                      position_biased_input=False, norm_rel_ebd="layer_norm", share_att_key=True,
                      type_vocab_size=0, pad_token_id=tok.pad_token_id)
torch.manual_seed(7)
enc = DebertaV2Model(cfg).eval()
with torch.no_grad():
    for name, p in enc.named_parameters():
        if "LayerNorm" in name and name.endswith("weight"):
            p.copy_(0.5 + torch.rand(p.shape))
        else:
            p.copy_(torch.randn(p.shape) * 0.2)
head = torch.nn.Sequential(torch.nn.Dropout(0.05), torch.nn.Linear(2 * H, H), torch.nn.Tanh(),
                           torch.nn.Dropout(0.05), torch.nn.Linear(H, TASKS)).eval()
with torch.no_grad():
    for p in head.parameters():
        p.copy_(torch.randn(p.shape) * 1.5)

state = {"pretrained_model." + k: v.contiguous() for k, v in enc.state_dict().items()
         if k != "embeddings.position_ids"}
state.update({"head_layer." + k: v.contiguous() for k, v in head.state_dict().items()})
save_file(state, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
conf = cfg.to_dict()
conf.update({"architectures": ["DebertaV2PairRM"], "n_tasks": TASKS, "drop_out": 0.05,
             "source_prefix_id": src_id, "cand1_prefix_id": c1_id, "cand2_prefix_id": c2_id,
             "cand_prefix_id": c_id, "sep_token_id": tok.sep_token_id})
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(conf, f, indent=2, sort_keys=True)

SRC_MAX, CAND_MAX = 24, 10  # small, so that truncation is exercised


def tokenize_pair(sources, cand1s, cand2s):  # PairRM-hf's model card
    ids = []
    max_length = SRC_MAX + 2 * CAND_MAX
    for s, c1, c2 in zip(sources, cand1s, cand2s):
        source_ids = tok.encode("<|source|>" + s, max_length=SRC_MAX, truncation=True)
        cmax = (max_length - len(source_ids)) // 2
        c1_ids = tok.encode("<|candidate1|>" + c1, max_length=cmax, truncation=True)
        c2_ids = tok.encode("<|candidate2|>" + c2, max_length=cmax, truncation=True)
        ids.append(source_ids + c1_ids + c2_ids)
    return tok.pad({"input_ids": ids}, return_tensors="pt", padding="max_length", max_length=max_length)


def pair_logits(sources, c1s, c2s):  # DebertaV2PairRM.forward, re-typed
    e = tokenize_pair(sources, c1s, c2s)
    ids, mask = e["input_ids"], e["attention_mask"]
    keep = mask.ne(0).any(dim=0)
    ids, mask = ids[:, keep], mask[:, keep]
    with torch.no_grad():
        h = enc(input_ids=ids, attention_mask=mask).last_hidden_state

        def at(tid):
            r, c = torch.where(ids == tid)
            return h[r, c, :]
        left = head(torch.cat([at(src_id), at(c1_id)], -1))
        right = head(torch.cat([at(src_id), at(c2_id)], -1))
    return (left - right).mean(-1), ids


prompts = ["What is the capital of France?", "Write a haiku about the sea.", "Explain recursion briefly.",
           "A much longer question that will certainly need to be truncated because it goes on and on about many things"]
a = ["Paris is the capital.", "Waves fold in silence.", "A function that calls itself.", "Short."]
b = ["I think it is Lyon, or maybe Marseille, hard to say really, sorry about that", "The sea.", "Recursion: see recursion.", "Another answer here."]
ab, ids_ab = pair_logits(prompts, a, b)
ba, _ = pair_logits(prompts, b, a)
T = 1.0
prob = torch.sigmoid((ab - ba) / T)
golden = {"generator": "judges/testdata/gen_pairrm.py", "source_max_length": SRC_MAX, "candidate_max_length": CAND_MAX,
          "temperature": T, "prompts": prompts, "a": a, "b": b, "logits_ab": ab.tolist(), "logits_ba": ba.tolist(),
          "prob": prob.tolist(), "input_ids_ab": ids_ab.tolist()}
with open(os.path.join(here, "pairrm_golden.json"), "w") as f:
    json.dump(golden, f, indent=1)
print("wrote", out, prob.tolist())
