#!/usr/bin/env python3
"""Writes hf/config/testdata/cases.json: config.json documents and the values
transformers 4.46.3 resolves from them (LlamaConfig, Qwen2Config,
MistralConfig), so go test can check hf/config's defaults against transformers."""
import json
import os

from transformers import AutoConfig, LlamaConfig, MistralConfig, Qwen2Config

docs = [
    {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 49152, "hidden_size": 576,
     "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3,
     "rms_norm_eps": 1e-05, "rope_theta": 100000, "tie_word_embeddings": True, "bos_token_id": 1,
     "eos_token_id": 2, "pad_token_id": 2, "max_position_embeddings": 8192, "torch_dtype": "bfloat16"},
    {"model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "vocab_size": 151936, "hidden_size": 896,
     "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
     "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "tie_word_embeddings": True, "bos_token_id": 151643,
     "eos_token_id": 151645, "max_position_embeddings": 32768, "torch_dtype": "bfloat16"},
    {"model_type": "llama", "vocab_size": 128, "hidden_size": 64, "intermediate_size": 96,
     "num_hidden_layers": 2, "num_attention_heads": 8, "eos_token_id": [128001, 128008, 128009],
     "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 8192}},
    {"model_type": "mistral", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 96,
     "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32},
    {"model_type": "qwen2", "architectures": ["Qwen2ForSequenceClassification"], "vocab_size": 100,
     "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
     "num_key_value_heads": 4, "id2label": {"0": "LABEL_0"}, "pad_token_id": 0},
]

cases = []
for d in docs:
    cls = {"llama": LlamaConfig, "qwen2": Qwen2Config, "mistral": MistralConfig}[d["model_type"]]
    c = cls(**{k: v for k, v in d.items() if k != "model_type"})
    eos = c.eos_token_id if isinstance(c.eos_token_id, list) else ([c.eos_token_id] if c.eos_token_id is not None else [])
    bos = c.bos_token_id if isinstance(c.bos_token_id, list) else ([c.bos_token_id] if c.bos_token_id is not None else [])
    rs = getattr(c, "rope_scaling", None)
    cases.append({"config": d, "want": {
        "num_key_value_heads": c.num_key_value_heads,
        "head_dim": getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads,
        "rms_norm_eps": c.rms_norm_eps, "rope_theta": c.rope_theta,
        "max_position_embeddings": c.max_position_embeddings,
        "tie_word_embeddings": c.tie_word_embeddings,
        "attention_bias": getattr(c, "attention_bias", d["model_type"] == "qwen2") if d["model_type"] != "qwen2" else True,
        "bos": bos, "eos": eos, "pad": c.pad_token_id, "num_labels": c.num_labels if "SequenceClassification" in str(d.get("architectures")) else 0,
        "rope_factor": rs["factor"] if rs else None,
    }})

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.json"), "w") as f:
    json.dump({"generator": "hf/config/testdata/gen_golden.py", "cases": cases}, f, indent=1)
print(len(cases), "cases")
