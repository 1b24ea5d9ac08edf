#!/usr/bin/env python3
"""Writes hf/tokenizer/testdata/golden_digits.json: the committed SmolLM2
tokenizer.json with its pre_tokenizer replaced by the real SmolLM2 one,
Sequence[Digits, ByteLevel] (individual_digits true and false), encoded by the
tokenizers library (0.20.3). The Go test patches the same JSON the same way."""
import json
import os
import random

from tokenizers import Tokenizer

here = os.path.dirname(os.path.abspath(__file__))
base = json.load(open(os.path.join(here, "smollm2", "tokenizer.json")))
rng = random.Random(7)
pieces = ["12345", "3.14159", "2026-12-04", "x²+y³", "½ + ¼", "Ⅻ o'clock", "٣٤٥ ١٢", "१२३", "0x1F",
          " 42 ", "v1.2.3", "a1b2c3", "１２３", "¹²³", "㉑", "1,000,000", "9\n8\t7", "no digits here", ""]
strings = list(pieces)
for _ in range(300):
    strings.append("".join(rng.choice(pieces + [" ", "abc", "é", "🙂"]) for _ in range(rng.randint(1, 6))))

out = {"generator": "hf/tokenizer/testdata/gen_digits.py", "cases": []}
for individual in (True, False):
    j = dict(base)
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": individual},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    tok = Tokenizer.from_str(json.dumps(j))
    for s in strings:
        out["cases"].append({"individual": individual, "text": s, "ids": tok.encode(s, add_special_tokens=False).ids})
json.dump(out, open(os.path.join(here, "golden_digits.json"), "w"), ensure_ascii=False)
print(len(out["cases"]), "cases")
