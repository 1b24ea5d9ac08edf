#!/usr/bin/env python3
"""Writes tiny random DeBERTa-v2/v3 encoders and their transformers outputs
into torch/testdata/deberta/<name>/ (config.json, weights, golden.safetensors).

Reference: Hugging Face transformers 4.46.3 DebertaV2Model (eval, fp32) on
Debian's PyTorch 1.13.1; safetensors 0.4.5. go test ./torch compares our
libtorch encoder (csrc/models/deberta_v2.cpp) against last_hidden_state.

  v3_shared     deberta-v3 layout (relative attention, log buckets, p2c+c2p,
                share_att_key, layer-normed rel embeddings, no absolute
                positions); model.safetensors as save_pretrained writes it.
  v3_pairrm     the same with share_att_key false (pos_key_proj,
                pos_query_proj), stored as PairRM stores it: every encoder
                weight under "pretrained_model." plus head_layer.* weights.
  v2_c2p_bin    absolute positions, c2p only, no buckets, no rel LayerNorm,
                two token types, embedding_size 24 != hidden 32 (embed_proj);
                pytorch_model.bin from torch.save(model.state_dict()) (an
                OrderedDict with _metadata, zip format); token types given.
  v2_c2p_bin_sharded  the same weights as two torch.save'd plain-dict shards
                and pytorch_model.bin.index.json (golden: v2_c2p_bin's).
  pickle_kinds  pytorch_model.bin with storages of several dtypes, a 0-d
                tensor, views at an offset into a shared storage and a
                transposed (non-contiguous) tensor; golden.safetensors holds
                the same tensors made contiguous.
  relpos.safetensors  build_relative_position rows and columns for PairRM's
                real settings (position_buckets 256, max_relative_positions
                512) at length 1500, and for the tiny models' (16, 32) at 100.

Inputs are (3, 12) with RIGHT padding: row 0 unpadded, rows 1 and 2 with 4
and 7 pads (pad id 0).
"""
import collections
import json
import os
import shutil

import torch
from safetensors.torch import save_file
from transformers import DebertaV2Config, DebertaV2Model
from transformers.models.deberta_v2.modeling_deberta_v2 import build_relative_position

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "deberta")

BASE = dict(vocab_size=128, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=64, hidden_act="gelu",
            layer_norm_eps=1e-7, pad_token_id=0)


def randomise(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(0.5 + torch.rand(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)


def inputs(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    B, L = 3, 12
    ids = torch.randint(1, cfg.vocab_size, (B, L), generator=g)
    mask = torch.ones(B, L, dtype=torch.long)
    for b, npad in enumerate([0, 4, 7]):
        if npad:
            mask[b, L - npad:] = 0
            ids[b, L - npad:] = cfg.pad_token_id
    types = None
    if cfg.type_vocab_size > 0:
        types = torch.randint(0, cfg.type_vocab_size, (B, L), generator=g) * mask
    return ids, mask, types


def build(name, seed, **kw):
    cfg = DebertaV2Config(**BASE, **kw)
    model = DebertaV2Model(cfg)
    randomise(model, seed)
    model.eval()
    d = os.path.join(HERE, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    ids, mask, types = inputs(cfg, seed + 1)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    gold = {"ids": ids, "mask": mask, "last_hidden_state": out.contiguous()}
    if types is not None:
        gold["token_type_ids"] = types
    save_file(gold, os.path.join(d, "golden.safetensors"))
    return model, d


def main():
    shutil.rmtree(HERE, ignore_errors=True)
    os.makedirs(HERE)
    v3 = dict(relative_attention=True, position_buckets=16, max_relative_positions=32,
              pos_att_type=["p2c", "c2p"], norm_rel_ebd="layer_norm", position_biased_input=False,
              type_vocab_size=0)

    model, d = build("v3_shared", 100, share_att_key=True, **v3)
    model.save_pretrained(d, safe_serialization=True)

    model, d = build("v3_pairrm", 200, share_att_key=False, **v3)
    model.save_pretrained(d, safe_serialization=True)
    os.remove(os.path.join(d, "model.safetensors"))
    g = torch.Generator().manual_seed(201)
    sd = {"pretrained_model." + k: v.contiguous() for k, v in model.state_dict().items()}
    sd["head_layer.1.weight"] = torch.randn(32, 64, generator=g)
    sd["head_layer.1.bias"] = torch.randn(32, generator=g)
    sd["head_layer.4.weight"] = torch.randn(1, 32, generator=g)
    sd["head_layer.4.bias"] = torch.randn(1, generator=g)
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})

    model, d = build("v2_c2p_bin", 300, relative_attention=True, position_buckets=-1,
                     max_relative_positions=32, pos_att_type="c2p", norm_rel_ebd="none",
                     position_biased_input=True, share_att_key=False, type_vocab_size=2,
                     embedding_size=24)
    model.config.to_json_file(os.path.join(d, "config.json"))
    sd = model.state_dict()
    assert isinstance(sd, collections.OrderedDict) and hasattr(sd, "_metadata")
    torch.save(sd, os.path.join(d, "pytorch_model.bin"))

    ds = os.path.join(HERE, "v2_c2p_bin_sharded")
    os.makedirs(ds)
    shutil.copy(os.path.join(d, "config.json"), ds)
    names = list(sd.keys())
    weight_map = {}
    for i, part in enumerate([names[: len(names) // 2], names[len(names) // 2:]]):
        fn = f"pytorch_model-0000{i + 1}-of-00002.bin"
        torch.save({k: sd[k] for k in part}, os.path.join(ds, fn))
        weight_map.update({k: fn for k in part})
    with open(os.path.join(ds, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2, sort_keys=True)

    # Storage kinds for the restricted unpickler.
    dk = os.path.join(HERE, "pickle_kinds")
    os.makedirs(dk)
    g = torch.Generator().manual_seed(400)
    big = torch.randn(4, 6, generator=g)
    kinds = collections.OrderedDict()
    kinds["f32"] = torch.randn(2, 3, generator=g)
    kinds["f64"] = torch.randn(3, generator=g).double()
    kinds["bf16"] = torch.randn(2, 2, generator=g).bfloat16()
    kinds["f16"] = torch.randn(5, generator=g).half()
    kinds["i64"] = torch.arange(-3, 3).view(2, 3)
    kinds["i32"] = torch.arange(7, dtype=torch.int32)
    kinds["u8"] = torch.arange(250, 256, dtype=torch.uint8)
    kinds["bool"] = torch.tensor([True, False, True])
    kinds["scalar"] = torch.tensor(2.5)
    kinds["rows"] = big[1:3]          # offset 6 into big's storage
    kinds["big"] = big
    kinds["col"] = big[:, 2]          # stride (6,)
    kinds["t"] = big.t()              # stride (1, 6)
    kinds["param"] = torch.nn.Parameter(torch.randn(3, 2, generator=g))
    torch.save(kinds, os.path.join(dk, "pytorch_model.bin"))
    save_file({k: v.detach().clone().contiguous() for k, v in kinds.items()},
              os.path.join(dk, "golden.safetensors"))

    rel = {}
    for (b, m, L) in [(256, 512, 1500), (16, 32, 100)]:
        r = build_relative_position(L, L, bucket_size=b, max_position=m)[0]
        rel[f"b{b}_m{m}_row"] = r[0].contiguous()
        rel[f"b{b}_m{m}_col"] = r[:, 0].contiguous()
    save_file(rel, os.path.join(HERE, "relpos.safetensors"))


if __name__ == "__main__":
    main()
