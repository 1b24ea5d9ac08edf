#!/usr/bin/env python3
"""Writes hf/dataset/testdata: small prompt-only datasets written by pyarrow and
the rows pyarrow's own reader gets back from them, so go test can check
hf/dataset's parquet and JSON Lines readers against an independent one.

Needs pyarrow 17.0.0 (not in the project venv; e.g.
  python3 -m venv /tmp/pyarrow-venv && /tmp/pyarrow-venv/bin/pip install pyarrow==17.0.0
  /tmp/pyarrow-venv/bin/python hf/dataset/testdata/gen_golden.py).

Outputs (all under this directory):
  std/train-0000{0,1,2}-of-00003.parquet  string prompt + int64 id, row groups of 7 (hub layout)
  std/test-00000-of-00001.parquet          another split, which Split "train" must not pick up
  std.jsonl                                 the train split as JSON Lines
  large.parquet                             large_string prompt, row groups of 7
  conv/data/train-0000{0,1}-of-00002.parquet list<struct<role, content>>, row groups of 5
  conv.jsonl                                the conversational rows as JSON Lines
  conv_large.parquet                        large_list<struct<content: large_string, role: large_string>>
  int.parquet                               prompt is int64 (an error case)
  list_string.parquet, no_content.parquet   list<string>; list<struct<role, text>> (error cases)
  many.parquet                              200 rows in 40 row groups of 5 (streaming test)
  expected.json                             per dataset, the rows in order as pyarrow reads them back
  shuffle.json                              the permutation documented on dataset.(*Dataset).Epoch, re-implemented here
"""
import glob
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq

assert pa.__version__ == "17.0.0", pa.__version__

HERE = os.path.dirname(os.path.abspath(__file__))


def out(*parts):
    p = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


# ---- standard prompts -------------------------------------------------------

WORDS = ["the", "ocean", "Écoute", "数据", "why", "does", "a", "kettle", "sing", "🙂", "tab\there", "line\nbreak",
         "quote\"d", "back\\slash"]


def std_text(i):
    if i == 5:
        return ""  # an empty prompt: Filter must count it
    if i == 23:
        return None  # a null prompt: read as empty
    n = 1 + (i * 7) % 9
    return " ".join(WORDS[(i + k * 3) % len(WORDS)] for k in range(n)) + f" #{i}"


STD_SHARDS = [20, 19, 22]  # rows per shard; 7 per row group gives 3, 3 and 4 groups
rows, start = [], 0
for s, n in enumerate(STD_SHARDS):
    texts = [std_text(start + i) for i in range(n)]
    t = pa.table({"id": pa.array(range(start, start + n), pa.int64()), "prompt": pa.array(texts, pa.string())})
    pq.write_table(t, out("std", f"train-{s:05d}-of-{len(STD_SHARDS):05d}.parquet"), row_group_size=7)
    start += n
pq.write_table(pa.table({"prompt": pa.array(["a test-split prompt"], pa.string())}),
               out("std", "test-00000-of-00001.parquet"))

large = [f"large {i}: " + "x" * (i % 13) + " 🙂" * (i % 3) for i in range(30)]
pq.write_table(pa.table({"prompt": pa.array(large, pa.large_string())}), out("large.parquet"), row_group_size=7)

pq.write_table(pa.table({"prompt": pa.array([1, 2, 3], pa.int64())}), out("int.parquet"))
pq.write_table(pa.table({"prompt": pa.array([["a", "b"]], pa.list_(pa.string()))}), out("list_string.parquet"))
pq.write_table(pa.table({"prompt": pa.array([[{"role": "user", "text": "hi"}]],
                                            pa.list_(pa.struct([("role", pa.string()), ("text", pa.string())])))}),
               out("no_content.parquet"))

many = [f"many {i}" for i in range(200)]
pq.write_table(pa.table({"prompt": pa.array(many, pa.string())}), out("many.parquet"), row_group_size=5)

# ---- conversational prompts -------------------------------------------------


def conv(i):
    if i == 4:
        return []  # no messages: empty
    if i == 9:
        return [{"role": "user", "content": ""}]  # all contents empty: empty
    if i == 12:
        return None  # null list: empty
    msgs = []
    if i % 3 == 0:
        msgs.append({"role": "system", "content": f"You are helper {i}."})
    msgs.append({"role": "user", "content": f"Question {i}: {WORDS[i % len(WORDS)]}?"})
    if i % 4 == 1:
        msgs.append({"role": "assistant", "content": f"Answer {i}."})
        msgs.append({"role": "user", "content": "And then? 数据"})
    return msgs


msg_t = pa.struct([("role", pa.string()), ("content", pa.string())])
CONV_SHARDS = [13, 11]
start = 0
for s, n in enumerate(CONV_SHARDS):
    t = pa.table({"prompt": pa.array([conv(start + i) for i in range(n)], pa.list_(msg_t))})
    pq.write_table(t, out("conv", "data", f"train-{s:05d}-of-{len(CONV_SHARDS):05d}.parquet"), row_group_size=5)
    start += n

msg_lt = pa.struct([("content", pa.large_string()), ("role", pa.large_string())])
conv_large = [conv(i) for i in range(17)]
pq.write_table(pa.table({"prompt": pa.array(conv_large, pa.large_list(msg_lt))}), out("conv_large.parquet"),
               row_group_size=4)

# ---- what pyarrow reads back ------------------------------------------------


def read_back(paths):
    got = []
    for p in paths:
        got.extend(pq.read_table(p, columns=["prompt"]).column("prompt").to_pylist())
    return got


def std_rows(values):
    return [{"row": i, "text": v} for i, v in enumerate(values)]  # null stays null (Go reads "")


def conv_rows(values):
    return [{"row": i, "messages": v} for i, v in enumerate(values)]


expected = {
    "std": std_rows(read_back(sorted(glob.glob(out("std", "train-*.parquet"))))),
    "large": std_rows(read_back([out("large.parquet")])),
    "many": std_rows(read_back([out("many.parquet")])),
    "conv": conv_rows(read_back(sorted(glob.glob(out("conv", "data", "train-*.parquet"))))),
    "conv_large": conv_rows(read_back([out("conv_large.parquet")])),
}
for name in ["std", "large", "many", "conv_large"]:
    types = {str(pq.read_schema(p).field("prompt").type) for p in glob.glob(os.path.join(HERE, name + ".parquet")) +
             glob.glob(os.path.join(HERE, name, "train-*.parquet"))}
    print(name, sorted(types), len(expected[name]), "rows")


def write_jsonl(path, values, key="prompt"):
    with open(path, "w", encoding="utf-8") as f:
        for v in values:
            f.write(json.dumps({"id": 0, key: v}, ensure_ascii=False) + "\n")


write_jsonl(out("std.jsonl"), [r["text"] for r in expected["std"]])
write_jsonl(out("conv.jsonl"), [r["messages"] for r in expected["conv"]])
# pyarrow's JSON reader must agree that the twins hold the same rows.
import pyarrow.json as pj  # noqa: E402

assert pj.read_json(out("std.jsonl")).column("prompt").to_pylist() == [r["text"] for r in expected["std"]]
back = pj.read_json(out("conv.jsonl")).column("prompt").to_pylist()
assert back == [r["messages"] for r in expected["conv"]], back

with open(out("expected.json"), "w", encoding="utf-8") as f:
    json.dump(expected, f, ensure_ascii=False, indent=None, separators=(",", ":"))
    f.write("\n")

# ---- shuffle: the permutation documented on (*Dataset).Epoch, typed again from that text ----

M = (1 << 64) - 1


def fmix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)


class SplitMix64:
    def __init__(self, state):
        self.state = state

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & M
        return fmix(self.state)

    def below(self, n):  # Lemire's unbiased multiply-shift with rejection
        x = self.next()
        m = x * n
        lo = m & M
        if lo < n:
            t = ((1 << 64) - n) % n
            while lo < t:
                x = self.next()
                m = x * n
                lo = m & M
        return m >> 64


def shuffle(n, seed, epoch):
    r = SplitMix64(fmix(seed) ^ fmix((epoch + 0x632BE59BD9B4E019) & M))
    p = list(range(n))
    for i in range(n - 1, 0, -1):
        j = r.below(i + 1)
        p[i], p[j] = p[j], p[i]
    return p


shuf = [{"n": n, "seed": seed, "epoch": e, "perm": shuffle(n, seed, e)}
        for n, seed, e in [(50, 42, 0), (50, 42, 1), (61, 0, 0), (7, 2**64 - 1, 3), (1000, 12345, 7)]]
with open(out("shuffle.json"), "w") as f:
    json.dump(shuf, f)
