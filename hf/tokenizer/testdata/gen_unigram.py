#!/usr/bin/env python3
# Golden-file generator for the SentencePiece Unigram support of package
# github.com/nashmd/nashmd/hf/tokenizer (the tokenizer of DeBERTa-v3, hence PairRM).
#
# Pinned versions (the outputs in this directory were produced with exactly these):
#   python        3.11
#   sentencepiece 0.2.0    (trains the models; EncodeAsIds/DecodeIds are the reference of the Go
#                           "native" path)
#   transformers  4.46.3   (DebertaV2TokenizerFast(vocab_file=spm.model) converts each model into a
#                           tokenizer.json with convert_slow_tokenizer.DebertaV2Converter)
#   tokenizers    0.20.3   (the Rust reference: Tokenizer.from_file/encode/decode)
#   regex         2026.11.19 (\X grapheme clusters, a diagnostic golden)
#
# Run from the repository root (make golden does):
#   .venv/bin/python hf/tokenizer/testdata/gen_unigram.py
#
# transformers' converter reads spm.model with the protobuf package, which is not among the
# golden requirements; when it is missing, a minimal ModelProto reader below (the fields the
# converter reads) stands in for it, and is checked against sentencepiece's own view of the
# model (pieces, scores, types) before use.
#
# Writes, next to this script:
#   unigram/spm.model            a Unigram model trained here on the corpus below (about 1,000
#                                pieces, DeBERTa-v3's layout: [PAD] [CLS] [SEP] control pieces with
#                                ids 0-2, [UNK] the unknown piece 3, [MASK] a user-defined symbol,
#                                nmt_nfkc normalisation, so a real precompiled_charsmap)
#   unigram/tokenizer.json       DebertaV2TokenizerFast(vocab_file=unigram/spm.model), to_str()
#   unigram_bytes/spm.model      a second model: byte_fallback, identity normalisation (no
#                                charsmap), add_dummy_prefix and remove_extra_whitespaces off, <unk>
#                                at 0, [CLS] [SEP] [PAD] <br> user-defined, <ctl> a control symbol,
#                                no [MASK] and no [UNK] (transformers adds them)
#   unigram_bytes/tokenizer.json DebertaV2TokenizerFast of that model
#   golden_unigram*.json.gz      tokenizers-library goldens, format of gen_golden.py's
#                                golden_<name>.json.gz plus "patch": edits that the Go test applies
#                                to the tokenizer.json before loading it (the generator applied the
#                                same edits to make the tokenizer it encoded with):
#       unigram                  unigram/tokenizer.json as converted (every test string)
#       unigram_lower_punct      do_lower_case=True, split_by_punct=True (the patch is checked to
#                                equal what the converter writes for those options)
#       unigram_first            Punctuation, then Metaspace with prepend_scheme "first"
#       unigram_never            Metaspace prepend_scheme "never", split false, behind a
#                                WhitespaceSplit; Strip(left only) and a String Replace
#       unigram_bytes            unigram_bytes/tokenizer.json as converted
#       unigram_bytes_fb         the same with model.byte_fallback true
#   golden_unigram_spm.json.gz   sentencepiece's EncodeAsIds and DecodeIds of both models:
#       {"models": {name: {"model": path, "cases": [{"text" | "hex", "ids", "decoded"}],
#                          "decode_cases": [{"ids", "text"}], "differ": n}}}
#       "differ" counts the strings whose EncodeAsIds differs from the tokenizers library's
#       encode(add_special_tokens=False); "differ_examples" lists a few; each case also has
#       "normalized" (SentencePieceProcessor.normalize).
#       "precompiled": [{"text", "normalized"}]: tokenizers' Precompiled normalizer alone, with
#       unigram/spm.model's charsmap; "graphemes": [{"text", "clusters"}]: regex.findall(r"\X").
#     Always gzipped (gzip mtime 0, so reruns give identical bytes).

import copy
import gzip
import json
import os
import random
import struct
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gen_golden as gg  # noqa: E402  (test-string pools and decode_cases)
import regex  # noqa: E402
import sentencepiece as spm  # noqa: E402
import transformers.convert_slow_tokenizer as cst  # noqa: E402
from tokenizers import Tokenizer, normalizers  # noqa: E402
from transformers import DebertaV2TokenizerFast  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Training text (a few KB written here, plus sentences built from gen_golden's word pools)

TEXT = """
The tokenizer turns text into pieces. A piece is a word, a part of a word, or a single
character; the model scores every way of cutting a sentence and keeps the best one.
SentencePiece treats the input as a raw stream of characters, so spaces are part of the
pieces: "▁the" begins a word and "the" continues one. Unknown characters become [UNK].
Preference models such as PairRM read two answers to the same question and say which one a
person would prefer. DeBERTa-v3 large sits underneath; its vocabulary has 128,000 pieces.
We train policies with Nash learning from human feedback: the policy plays against a mixture
of itself and a reference model, and the preference model judges each game.
Numbers appear everywhere: 3.14159, 2.71828, 1,000,000, 42, 1999-12-31, 12:30, 7%, $19.99.
Full-width text looks like ＡＢＣ ｘｙｚ １２３ and normalises to ABC xyz 123; ligatures such
as ﬁ, ﬂ and ﬃ become fi, fl and ffi; ① becomes 1, Ⅻ becomes XII and ㎏ becomes kg.
Accents: café, naïve, résumé, jalapeño, São Paulo, Zürich, Kraków, İstanbul, straße, Ελλάδα.
Le renard brun rapide saute par-dessus le chien paresseux. Où est la bibliothèque ?
Der schnelle braune Fuchs springt über den faulen Hund. Die Straße ist schön.
El rápido zorro marrón salta sobre el perro perezoso. ¿Dónde está la estación?
Быстрая коричневая лиса прыгает через ленивую собаку. Москва — столица России.
我们正在训练一个语言模型。今天天气很好。机器学习和深度学习。
こんにちは世界。ひらがなとカタカナ。東京都に住んでいます。
안녕하세요. 한국어 텍스트입니다.
def main():
    print("hello, world")
    return 0
for (int i = 0; i < n; ++i) { sum += a[i]; }
if err != nil { return fmt.Errorf("load %s: %w", path, err) }
The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG.
It's, don't, we're, they've, I'm, you'll, he'd: contractions keep their apostrophes.
Emoji are rare in training text 🙂 so they are often unknown 🤖 to a small model.
"""


def corpus():
    rng = random.Random(11)
    lines = [line for line in TEXT.strip().split("\n")]
    lines += [gg.paragraph(rng) for _ in range(120)]
    lines += gg.CODE + gg.CJK + gg.SCRIPTS
    return "\n".join(lines) + "\n"


def train(prefix, **kw):
    path = os.path.join(HERE, "_corpus.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write(corpus())
    try:
        spm.SentencePieceTrainer.train(input=path, model_prefix=prefix, model_type="unigram",
                                       num_threads=1, shuffle_input_sentence=False,
                                       hard_vocab_limit=False, minloglevel=2, **kw)
    finally:
        os.remove(path)
    os.remove(prefix + ".vocab")
    return prefix + ".model"


# ---------------------------------------------------------------------------------------------
# ModelProto without the protobuf package (only what DebertaV2Converter reads)

def _varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def _fields(b):
    i = 0
    while i < len(b):
        k, i = _varint(b, i)
        f, w = k >> 3, k & 7
        if w == 0:
            v, i = _varint(b, i)
        elif w == 1:
            v, i = b[i:i + 8], i + 8
        elif w == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif w == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {w}")
        yield f, v


def _int32(v):
    v &= (1 << 32) - 1
    return v - (1 << 32) if v >> 31 else v


class _Piece:
    def __init__(self, b):
        self.piece, self.score, self.type = "", 0.0, 1
        for f, v in _fields(b):
            if f == 1:
                self.piece = v.decode("utf-8")
            elif f == 2:
                self.score = struct.unpack("<f", v)[0]
            elif f == 3:
                self.type = v


class _TrainerSpec:
    def __init__(self, b):
        self.model_type, self.unk_id, self.byte_fallback, self.unk_piece = 1, 0, False, "<unk>"
        for f, v in _fields(b):
            if f == 3:
                self.model_type = v
            elif f == 40:
                self.unk_id = _int32(v)
            elif f == 35:
                self.byte_fallback = bool(v)
            elif f == 45:
                self.unk_piece = v.decode("utf-8")


class _NormalizerSpec:
    def __init__(self, b):
        self.precompiled_charsmap = b""
        self.add_dummy_prefix = self.remove_extra_whitespaces = True
        for f, v in _fields(b):
            if f == 2:
                self.precompiled_charsmap = bytes(v)
            elif f == 3:
                self.add_dummy_prefix = bool(v)
            elif f == 4:
                self.remove_extra_whitespaces = bool(v)


class _ModelProto:
    def ParseFromString(self, b):
        self.pieces, self.trainer_spec, self.normalizer_spec = [], _TrainerSpec(b""), _NormalizerSpec(b"")
        for f, v in _fields(b):
            if f == 1:
                self.pieces.append(_Piece(v))
            elif f == 2:
                self.trainer_spec = _TrainerSpec(v)
            elif f == 3:
                self.normalizer_spec = _NormalizerSpec(v)


def use_protobuf_stand_in():
    try:
        import google.protobuf  # noqa: F401
        return
    except ImportError:
        pass
    cst.requires_backends = lambda *a, **k: None
    cst.import_protobuf = lambda *a, **k: types.SimpleNamespace(ModelProto=_ModelProto)


def check_stand_in(model_path):
    """The stand-in must see the model as sentencepiece does."""
    sp = spm.SentencePieceProcessor(model_file=model_path)
    m = _ModelProto()
    m.ParseFromString(open(model_path, "rb").read())
    assert len(m.pieces) == sp.get_piece_size()
    for i, p in enumerate(m.pieces):
        assert p.piece == sp.id_to_piece(i), i
        assert p.score == sp.get_score(i), i
        assert (p.type == 2) == sp.is_unknown(i) and (p.type == 3) == sp.is_control(i), i
        assert (p.type == 5) == sp.is_unused(i) and (p.type == 6) == sp.is_byte(i), i
    assert m.trainer_spec.unk_id == sp.unk_id()


# ---------------------------------------------------------------------------------------------
# Test strings

DEBERTA = ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "<unk>", "<br>", "<ctl>", "[CLS] hello [SEP]",
           "x[MASK]y", " [MASK] ", "[MASK][MASK]", "[mask]", "[CL", "[MASK", "MASK]", "a<br>b", "[UNK]x",
           "x [UNK] y", " [UNK]", "[ UNK ]", "[CLS][SEP]", "<unk><unk>", "a <ctl> b", "[SEP]\n[CLS]",
           "[Ｍ\uff21SK]", "[\u3000MASK]", "[MASK]\u3000x", "[UNK]\u200b"]

NFKC = ["ＡＢＣ", "Ａ\u0301", "ﬁ\u0301", "①\u0308", "㍿", "Ⅻ", "ℌ", "ﬀﬃ", "㎏", "…", "™", "½", "ｶﾞ",
        "ｶ\uff9e", "\u00a0x\u00a0", "\u3000x", "\u200bx", "x\u200b", "\ufeffx", "\x01x", "\x7f", "\u00ad",
        "a\r\nb", "\r\n", "e\u0301", "A\u030a", "x²", "ℵ", "ǆ", "ﻻ", "\u0600\u0661", "ㄱ", "㈜", "🄰", "Ⓐ",
        "⑴", "⒈", "㏂", "！？", "｡", "ｱｲｳ", "ﾊﾟ", "Ｈｅｌｌｏ　Ｗｏｒｌｄ", "ｆｕｌｌ\uff0dｗｉｄｔｈ", "ℕ𝕆",
        "𝐇𝐞𝐥𝐥𝐨", "ﬆ", "Ǳ", "㋀", "⁵⁄₈", "µ", "Ω", "K", "Å", "ῼ", "ﬀ\u0308", "ｇ\u0301", "１\u20e3",
        "a\u20dd", "Ａ\U0001f3fd", "ａ\u200d", "\u0130", "\u1e9b\u0323", "\u2126\u0301", "＃\ufe0f",
        "\t\tx", "x\t\t", "x\n\n\ny", "  x  y  ", "x \u3000 y", "\u2028x\u2029", "\u0085x", "\x0bx\x0c"]


def rand_nfkc(rng):
    return "".join(rng.choice(NFKC + gg.COMBINING + [" ", "  ", "a", "the", "Ａ"]) for _ in range(rng.randint(1, 6)))


def build_strings():
    rng = random.Random(20241204)
    out = gg.build_strings() + DEBERTA + NFKC
    for _ in range(400):
        parts = [rand_nfkc(rng) if rng.random() < 0.5 else gg.rand_fragment(rng)
                 for _ in range(rng.randint(1, 5))]
        if rng.random() < 0.3:
            parts.insert(rng.randint(0, len(parts)), rng.choice(DEBERTA))
        out.append(rng.choice(["", " ", "  ", "\t"]).join(parts))
    seen, uniq = set(), []
    for s in out:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    return uniq


# ---------------------------------------------------------------------------------------------
# Goldens

def apply_patch(doc, patch):
    doc = copy.deepcopy(doc)
    for path, value in patch.items():
        d = doc
        keys = path.split("/")
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return doc


def write_tok_golden(name, ref, base_json, patch, strings, n_decode, seed):
    tok = Tokenizer.from_str(json.dumps(apply_patch(base_json, patch)))
    cases = []
    for s in strings:
        ids = tok.encode(s, add_special_tokens=False).ids
        ids_sp = tok.encode(s, add_special_tokens=True).ids
        cases.append({"text": s, "ids": ids, "ids_special": ids_sp,
                      "decoded": tok.decode(ids_sp, skip_special_tokens=False),
                      "decoded_skip": tok.decode(ids_sp, skip_special_tokens=True)})
    rng = random.Random(seed)
    vocab = tok.get_vocab(with_added_tokens=True)
    sample = sorted(rng.sample(sorted(vocab.items()), min(200, len(vocab))), key=lambda kv: kv[1])
    added = [{"id": i, "content": a.content, "special": a.special}
             for i, a in sorted(tok.get_added_tokens_decoder().items())]
    doc = {"tokenizer": ref, "patch": patch, "vocab_size": tok.get_vocab_size(with_added_tokens=True),
           "added_tokens": added, "vocab_sample": sample, "cases": cases,
           "decode_cases": gg.decode_cases(tok, rng, n_decode, strings)}
    write_gz(f"golden_{name}.json.gz", doc)
    print(f"golden_{name}: {len(cases)} strings")
    return tok


def write_gz(rel, doc):
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with gzip.GzipFile(os.path.join(HERE, rel), "wb", mtime=0) as f:
        f.write(data)


def spm_golden(model_path, tok, strings, byte_inputs, seed):
    sp = spm.SentencePieceProcessor(model_file=model_path)
    cases, differ, examples = [], 0, []
    for s in strings:
        ids = sp.EncodeAsIds(s)
        cases.append({"text": s, "ids": ids, "decoded": sp.DecodeIds(ids), "normalized": sp.normalize(s)})
        if ids != tok.encode(s, add_special_tokens=False).ids:
            differ += 1
            if len(examples) < 25:
                examples.append(s)
    for b in byte_inputs:  # invalid UTF-8: sentencepiece reads one U+FFFD per bad byte
        ids = sp.EncodeAsIds(b)
        cases.append({"hex": b.hex(), "ids": ids, "decoded": sp.DecodeIds(ids)})
    rng = random.Random(seed)
    n = sp.get_piece_size()
    byte_ids = [i for i in range(n) if sp.is_byte(i)]
    special = [i for i in range(n) if sp.is_control(i) or sp.is_unknown(i)]
    decode_cases = []
    for i in range(600):
        k = i % 3
        if k == 0:
            ids = [rng.randrange(n) for _ in range(rng.randint(0, 12))]
        elif k == 1:
            ids = [rng.choice(byte_ids + special) if (byte_ids or special) and rng.random() < 0.6
                   else rng.randrange(n) for _ in range(rng.randint(1, 10))]
        else:
            ids = list(rng.choice(cases)["ids"])
            if ids and rng.random() < 0.5:
                ids.insert(rng.randrange(len(ids)), rng.choice(special))
        decode_cases.append({"ids": ids, "text": sp.DecodeIds(ids)})
    print(f"{model_path}: EncodeAsIds differs from tokenizers on {differ} of {len(strings)} strings")
    return {"model": os.path.relpath(model_path, HERE), "cases": cases, "decode_cases": decode_cases,
            "differ": differ, "differ_examples": examples}


def spm_charsmap(model_path):
    m = _ModelProto()
    m.ParseFromString(open(model_path, "rb").read())
    return m.normalizer_spec.precompiled_charsmap


def converted(model_path, **kw):
    tok = DebertaV2TokenizerFast(vocab_file=model_path, **kw)
    return json.loads(tok.backend_tokenizer.to_str())


def save_json(rel, doc):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")


def main():
    use_protobuf_stand_in()
    os.makedirs(os.path.join(HERE, "unigram"), exist_ok=True)
    os.makedirs(os.path.join(HERE, "unigram_bytes"), exist_ok=True)
    model_a = train(os.path.join(HERE, "unigram", "spm"), vocab_size=1000,
                    pad_id=0, pad_piece="[PAD]", bos_id=1, bos_piece="[CLS]", eos_id=2,
                    eos_piece="[SEP]", unk_id=3, unk_piece="[UNK]", user_defined_symbols=["[MASK]"],
                    normalization_rule_name="nmt_nfkc")
    model_b = train(os.path.join(HERE, "unigram_bytes", "spm"), vocab_size=700, byte_fallback=True,
                    unk_id=0, unk_piece="<unk>", bos_id=-1, eos_id=-1, pad_id=-1,
                    user_defined_symbols=["[CLS]", "[SEP]", "[PAD]", "<br>"], control_symbols=["<ctl>"],
                    normalization_rule_name="identity", add_dummy_prefix=False,
                    remove_extra_whitespaces=False)
    for m in (model_a, model_b):
        check_stand_in(m)
    json_a, json_b = converted(model_a), converted(model_b)
    save_json("unigram/tokenizer.json", json_a)
    save_json("unigram_bytes/tokenizer.json", json_b)

    strings = build_strings()
    assert len(strings) >= 2000, len(strings)
    subset = list(dict.fromkeys(DEBERTA + NFKC + gg.FIXED + gg.MINI + strings[::3]))

    lower_punct = {
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Lowercase"}] + json_a["normalizer"]["normalizers"]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Punctuation", "behavior": "Isolated"}]
                          + json_a["pre_tokenizer"]["pretokenizers"]},
    }
    assert apply_patch(json_a, lower_punct) == converted(model_a, do_lower_case=True, split_by_punct=True)
    first = {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                 {"type": "Punctuation", "behavior": "Isolated"},
                 {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}]},
             "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}}
    never = {"normalizer": {"type": "Sequence", "normalizers": [
                 {"type": "Strip", "strip_left": True, "strip_right": False},
                 json_a["normalizer"]["normalizers"][1],
                 {"type": "Replace", "pattern": {"String": "fi"}, "content": "FI"}]},
             "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                 {"type": "WhitespaceSplit"},
                 {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": False}]},
             "decoder": {"type": "Sequence", "decoders": [
                 {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "never", "split": False}]}}

    tok_a = write_tok_golden("unigram", "unigram/tokenizer.json", json_a, {}, strings, 400, 1)
    write_tok_golden("unigram_lower_punct", "unigram/tokenizer.json", json_a, lower_punct, subset, 150, 2)
    write_tok_golden("unigram_first", "unigram/tokenizer.json", json_a, first, subset, 150, 3)
    write_tok_golden("unigram_never", "unigram/tokenizer.json", json_a, never, subset, 150, 4)
    tok_b = write_tok_golden("unigram_bytes", "unigram_bytes/tokenizer.json", json_b, {}, subset, 150, 5)
    write_tok_golden("unigram_bytes_fb", "unigram_bytes/tokenizer.json", json_b,
                     {"model/byte_fallback": True}, subset, 150, 6)

    byte_inputs = [b"\xff", b"a\x80b", b"\xe4\xbd", b"caf\xc3", b"\xc0\xaf x", b"ok \xf0\x9f\x98", b"\xed\xa0\x80"]
    # The two helpers of the Precompiled normalizer, for diagnosis: the normalizer alone
    # (tokenizers), and extended grapheme clusters (the regex module's \X, whose Unicode tables
    # gen_grapheme_tables.py also reads).
    precompiled = normalizers.Precompiled(spm_charsmap(model_a))
    graphemes = [{"text": s, "clusters": regex.findall(r"\X", s)} for s in strings]
    write_gz("golden_unigram_spm.json.gz", {
        "models": {"unigram": spm_golden(model_a, tok_a, strings, byte_inputs, 7),
                   "unigram_bytes": spm_golden(model_b, tok_b, subset, byte_inputs, 8)},
        "precompiled": [{"text": s, "normalized": precompiled.normalize_str(s)} for s in strings],
        "graphemes": graphemes})


if __name__ == "__main__":
    sys.exit(main())
