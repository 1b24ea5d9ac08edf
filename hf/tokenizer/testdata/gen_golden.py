#!/usr/bin/env python3
# Golden-file generator for package github.com/nashmd/nashmd/hf/tokenizer.
#
# Pinned versions (the outputs in this directory were produced with exactly these):
#   python        3.11
#   tokenizers    0.20.3   (the Rust reference implementation: Tokenizer.from_file/encode/decode)
#   transformers  4.46.3   (only to convert the SmolLM2 GGUF tokenizer into a tokenizer.json)
#   gguf          0.10.0   (used by transformers for that conversion)
#
# Run from the repository root (make golden does):
#   NASHMD_ASSETS=third_party/cache .venv/bin/python hf/tokenizer/testdata/gen_golden.py
#
# Inputs (assets, never committed): $NASHMD_ASSETS/qwen3/tokenizer.json and
# $NASHMD_ASSETS/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf.
#
# Writes, next to this script:
#   smollm2/tokenizer.json   SmolLM2-135M-Instruct's tokenizer as transformers converts it from the
#                            GGUF metadata (AutoTokenizer.from_pretrained(dir, gguf_file=...), then
#                            backend_tokenizer.to_str()). It does not come from our Go code.
#                            Note: this conversion's post_processor is a TemplateProcessing that
#                            prepends <|im_start|> (id 1) when add_special_tokens=True, although
#                            the GGUF says tokenizer.ggml.add_bos_token = false; the goldens
#                            record what the file does.
#   mini_bytelevel/tokenizer.json, mini_split/tokenizer.json, mini_fallback/tokenizer.json
#                            small tokenizers trained here with the tokenizers library, then edited
#                            as JSON to reach options the real tokenizers do not use (merges as
#                            "a b" strings, ignore_merges, byte_fallback, unk fusing, added tokens
#                            with single_word/lstrip/rstrip/normalized, Split behaviours, invert,
#                            TemplateProcessing with BOS and EOS). Each is reloaded with
#                            Tokenizer.from_file before use, so the goldens come from the file as
#                            written.
#   golden_<name>.json.gz    for <name> in qwen3, smollm2, mini_*:
#       {"tokenizer": path relative to testdata (qwen3: asset path "qwen3/tokenizer.json"),
#        "vocab_size" (get_vocab_size(with_added_tokens=True)),
#        "added_tokens": [{"id", "content", "special"}] (get_added_tokens_decoder()),
#        "vocab_sample": [[token, id]] (200 entries of get_vocab(with_added_tokens=True)),
#        "cases": [{"text", "ids" (add_special_tokens=False), "ids_special" (=True),
#                   "decoded" (decode(ids_special, skip_special_tokens=False)),
#                   "decoded_skip" (decode(ids_special, skip_special_tokens=True))}],
#        "decode_cases": [{"ids", "text" (skip=False), "text_skip" (skip=True)}]}
#   golden_unicode.json.gz   NFC/NFD of many strings (unicodedata) and lossy UTF-8 decoding of
#                            random byte strings (bytes.decode(errors="replace")).
#     Always gzipped (gzip mtime 0, so reruns give identical bytes).
#
# The test strings are built deterministically (random.Random with fixed seeds) from the pools
# below; the real tokenizers get every string (>= 2,000), the mini tokenizers a subset.

import gzip
import json
import os
import random
import sys
import unicodedata

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.environ.get("NASHMD_ASSETS") or os.path.join(HERE, "..", "..", "..", "third_party", "cache")

# ---------------------------------------------------------------------------------------------
# Test strings

WORDS = """the of and to in is you that it he was for on are as with his they at be this have
from or one had by word but not what all were we when your can said there use an each which
she do how their if will up other about out many then them these so some her would make like
him into time has look two more write go see number no way could people my than first water
been call who oil its now find long down day did get come made may part tokenizer model token
training policy reward mixture Nash equilibrium gradient learning rate batch sequence Hello
World Python Golang JavaScript TypeScript Rust C++ GPU CPU API JSON HTTP URL UTF-8 naïve café
résumé coöperate façade jalapeño Zürich São Paulo Ελλάδα Москва Kraków İstanbul straße""".split()

CODE = [
    "def main():\n    print('hello')\n",
    "func (t *Tokenizer) Encode(s string) []int {\n\treturn nil\n}\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "if x == None:\n        raise ValueError(f\"bad {x!r}\")",
    "const x = {a: 1, b: [2, 3], 'c': \"d\"};",
    "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
    "<div class=\"row\"><span>Text</span></div>",
    "{\"key\": \"value\", \"n\": 12.5e-3, \"ok\": true, \"list\": [1,2,3]}",
    "#include <stdio.h>\nint main(void) { return 0; }\n",
    "x := make(map[string][]int, 16) // comment\n",
    "    \tindented_with_mixed = True  \n",
    "$ go test -race ./...\nok  \tgithub.com/nashmd/nashmd/hf\t0.123s",
    "a->b->c; p&&q||!r; i+=1; j<<=2; k>>>=3;",
    "lambda x: x**2 + 3*x - 1",
    "std::vector<std::string> v{\"a\", \"b\"};",
    "`backticks` and ~tilde~ and ^caret^ and @at #hash $dollar %percent",
    "/* block\n * comment\n */",
    "https://example.com/path?q=1&r=two#frag",
    "C:\\Users\\name\\file.txt",
    "if err != nil {\n\t\treturn fmt.Errorf(\"load %s: %w\", path, err)\n\t}",
]

NUMBERS_FIXED = ["0", "7", "42", "123", "1234", "12345", "123456789", "3.14159", "1,000,000",
                 "-17", "+3", "1e10", "2.5e-3", "0xFF", "0b1010", "2024-01-15", "12:34:56",
                 "$19.99", "100%", "1/2", "½", "²", "٣٤٥", "१२३", "一二三", "Ⅻ", "①②", "𝟘𝟙"]

SPACES = [" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\n\n\n", "\r\n", "\r\n\r\n", " \n",
          "\n ", " \t ", "\r", "\u3000", "\u00a0", "\u2009", "\u200b", "\u0085", "\u2028", "\x0b",
          "\x0c", "        "]

CJK = ["你好，世界！", "我们正在训练一个语言模型。", "今天天气很好", "机器学习", "中文分词测试",
       "こんにちは世界", "ひらがなとカタカナ", "東京都", "ｶﾀｶﾅ", "ＡＢＣ１２３",
       "한국어 텍스트", "안녕하세요", "繁體中文與簡體中文", "𠀀𠀁𪚥", "㐀㐁"]

SCRIPTS = ["مرحبا بالعالم", "اللغة العربية", "שלום עולם", "नमस्ते दुनिया", "हिन्दी",
           "Привет, мир!", "Ελληνικά γράμματα", "สวัสดีชาวโลก", "Tiếng Việt có dấu",
           "ქართული", "Հայերեն", "বাংলা", "தமிழ்", "ᚠᚢᚦᚨᚱᚲ", "ꯃꯤꯇꯩ", "ܐܪܡܝܐ"]

EMOJI = ["👍", "👍🏽", "😀", "🤖", "❤️", "❤", "✨", "🎉🎉", "👨‍👩‍👧‍👦", "👩🏽‍💻", "🏳️‍🌈",
         "🇫🇷", "🇯🇵🇺🇸", "🇩🇪", "1️⃣", "#️⃣", "☺︎", "🧑‍🤝‍🧑", "🫠", "🏴󠁧󠁢󠁳󠁣󠁴󠁿"]

COMBINING = ["e\u0301", "\u00e9", "a\u0308", "\u00e4", "A\u030a", "\u212b", "\u2126",
             "a\u0323\u0301", "a\u0301\u0323", "\u1e9b\u0323", "o\u0302\u0301", "\u1100\u1161\u11a8",
             "\ud55c\u11a8", "\u0301start", "n\u0303", "\u00f1", "\ufb01", "\u0344", "\u0958",
             "\u0b47\u0b3e", "\u0e40\u0e01\u0e35\u0e48\u0e22\u0e27", "Z\u0351\u036b\u0343\u036a",
             "q\u0307\u0323", "\u1ec7", "e\u0323\u0302", "e\u0302\u0323", "\u0399\u0308\u0301"]

CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'VE", "'M",
                "'LL", "'D", "'Re", "'lL", "’s", "’ll", "''s", "'x", "'"]

QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
                "<|vision_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
                "<think>", "</think>", "<tool_response>", "<|file_sep|>", "<|repo_name|>"]
SMOL_SPECIAL = ["<repo_name>", "<reponame>", "<file_sep>", "<filename>", "<gh_stars>",
                "<issue_start>", "<jupyter_code>", "<empty_output>"]
PARTIAL_SPECIAL = ["<|im_sta", "<|im_start", "<|im_end", "|>", "<|", "<think", "</think",
                   "<|endoftext", "im_start|>", "<|IM_START|>", "< |im_start|>", "<file_se",
                   "<|im_start|", "<<|im_end|>>", "<|<|endoftext|>|>"]

ODD = ["\ufffd", "\ue000", "\uf8ff", "\U000f0000", "\U00100001", "\u200d", "\ufeff", "\x00",
       "\x01\x02", "\x7f", "\x1b[31mred\x1b[0m", "\U0001d400\U0001d401", "\u2060", "\ufe0f",
       "\U000e0041", "\u00ad", "\u061c", "\u202e", "\uffff", "\U0010ffff", "\u0000\u0000"]

FIXED = [
    "", " ", "  ", "\t", "\n", "\r\n", "\n\n\n", "a", "A", "hello", "Hello world", "hello world ",
    "hello   world  ", "   leading spaces", "trailing spaces   ", "tabs\tbetween\twords\t",
    "line one\nline two\n", "windows\r\nline\r\nendings\r\n", "mixed \t\n \r\n  whitespace  \n",
    "The quick brown fox jumps over the lazy dog.", "THE QUICK BROWN FOX", "it's", "IT'S",
    "we're", "WE'RE", "I'm", "I'M", "you'll", "YOU'LL", "he'd", "HE'D", "they've", "THEY'VE",
    "don't", "DON'T", "can't won't shan't", "'s", "'tis", "rock 'n' roll", "it’s curly",
    "don'ſ it'K", "12345", "3.14159265358979", "1,234,567.89", "x2y3z4", "abc123def456",
    "2024-06-01T12:00:00Z", "version 1.2.3-rc4", "你好，世界", "こんにちは", "안녕하세요",
    "مرحبا", "שלום", "Привет", "नमस्ते", "👍", "👨‍👩‍👧‍👦", "🇫🇷🇩🇪", "👋🏽", "1️⃣", "é", "e\u0301",
    "café", "cafe\u0301", "Å", "\u212b", "\u1e9b\u0323", "한", "\u1112\u1161\u11ab", "\ufffd",
    "\ue000", "\u200b", "\ufeff", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
    "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n",
    "<|im_start|>assistant\n<think>\n\n</think>\n\nSure.<|im_end|>",
    "a<|endoftext|>b", " <|im_start|> ", "<|im_end|><|im_end|>", "<|im_sta", "<|im_start",
    "<|im_start|", "<<|im_start|>>", "text<|endoftext|>", "<|endoftext|>text",
    "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>",
    "<|fim_prefix|>def f(<|fim_suffix|>):<|fim_middle|>", "<repo_name>nashmd<file_sep>main.go",
    "<filename>a.py\n<gh_stars>10", "<empty_output>", "\u3000全角スペース\u3000",
    "     ", "\n \n", " \n\n ", "a  b   c    d", "!!!", "???!!!...", "...", "---", "***bold***",
    "snake_case_name", "camelCaseName", "PascalCaseName", "SCREAMING_CASE", "kebab-case-name",
    "e-mail@example.com", "#hashtag @mention", "(parentheses) [brackets] {braces}",
    "\"quoted\" 'single'", "ﬁﬂ ligatures", "ＡＢＣ　ｘｙｚ", "½ ¼ ¾", "x²+y²=z²", "∑∫∂√∞≈≠",
    "→←↑↓", "©®™", "§¶†‡", "€£¥₹₿", "\x00\x01\x02", "tab\t", "\t\ttab", "a\u0300\u0301\u0302",
    "\u0301", "\u0301\u0301", "ǅ ǈ ǋ", "İstanbul ıi", "ß ẞ", "ΣΑΣ σας", "ﷺ", "\U0001f9d1\u200d\U0001f4bb",
]

# Strings aimed at the options of the mini tokenizers (added-token flags, split behaviours,
# byte fallback); every tokenizer gets them.
MINI = [
    "hello", "hello world", "say hello", "hellothere", "_hello_", "hello_", "2hello", "héllo hello",
    "hello, hello!", "ohello", "[L]", "x[L]y", "  [L]  x", "\t\n [L]", "[L][L]", "x [R]   y", "[R]",
    "[R]\n\n z", "[R] [L]", "a <mask>  b", "<mask>", "  <mask>  ", "a<mask>b", "x\u3000<mask>\u00a0y",
    "café", "cafe\u0301", "CAFÉ café", "cafécafé", "naïve", "nai\u0308ve", "anaïve", "naïve_",
    "naïve.", "<|im_start|>", "<|im", "<|im_", "<|im_start|", "the", "the theme", " the", "  the end",
    "bathe", "abc", "ab", "abcd", "xabcx", "aab", "ababab", "<s>", "</s>", "<s></s>", "a</s>b",
    "abc123def", "1a2b3c", "Hello!!? World!!!", "CamelCaseWord", "ABCdef GHi", "a, b; c,,d;;",
    "x1 y22 z333", "  two  spaces  ", "你好é", "中é文ü", "ü你", "é😀é", "Ωmega ∑ x", "##", "a##b",
    "\u0301\u0302", "<unk>", "abc <unk> def", "x\x00y", "tab\tsep", "world", "hello world model",
    " tokenizer", "the model", "a∑xb ∑x", "∑", "(a) [b]. c!? ...d", "\"q\", 'r'", "x--y__z",
]


def rand_number(rng):
    k = rng.random()
    if k < 0.4:
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 20)))
    if k < 0.6:
        return f"{rng.randint(-10**6, 10**6)}.{rng.randint(0, 9999)}"
    if k < 0.75:
        return f"{rng.randint(0, 999)},{rng.randint(0, 999):03d},{rng.randint(0, 999):03d}"
    return rng.choice(NUMBERS_FIXED)


def rand_combining(rng):
    base = rng.choice("aeiouyAEOUnczsg")
    marks = [chr(rng.choice([0x300, 0x301, 0x302, 0x303, 0x308, 0x30a, 0x323, 0x327, 0x328,
                             0x331, 0x316, 0x34f, 0x35c, 0x361]))
             for _ in range(rng.randint(1, 3))]
    s = base + "".join(marks)
    return unicodedata.normalize(rng.choice(["NFC", "NFD"]), s) if rng.random() < 0.5 else s


def rand_codepoints(rng):
    blocks = [(0x20, 0x7e), (0xa0, 0xff), (0x100, 0x24f), (0x300, 0x36f), (0x370, 0x3ff),
              (0x400, 0x4ff), (0x590, 0x5ff), (0x600, 0x6ff), (0x900, 0x97f), (0xe00, 0xe7f),
              (0x1100, 0x11ff), (0x1e00, 0x1eff), (0x2000, 0x206f), (0x2190, 0x22ff),
              (0x3040, 0x30ff), (0x4e00, 0x9fff), (0xac00, 0xd7a3), (0xe000, 0xe0ff),
              (0xff00, 0xffef), (0x1f300, 0x1f64f), (0x1d400, 0x1d4ff), (0x20000, 0x2a6df)]
    out = []
    for _ in range(rng.randint(1, 24)):
        lo, hi = rng.choice(blocks)
        while True:
            c = chr(rng.randint(lo, hi))
            # Only code points assigned in this Python's Unicode (14.0), so that character
            # properties agree between Oniguruma, Go's unicode tables and Python.
            if unicodedata.category(c) not in ("Cn", "Cs"):
                break
        out.append(c)
    return "".join(out)


def rand_fragment(rng):
    pools = [
        (25, lambda: " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8)))),
        (8, lambda: rng.choice(CODE)),
        (10, lambda: rand_number(rng)),
        (10, lambda: rng.choice(SPACES)),
        (6, lambda: rng.choice(CJK)),
        (5, lambda: rng.choice(SCRIPTS)),
        (6, lambda: rng.choice(EMOJI)),
        (6, lambda: rand_combining(rng) if rng.random() < 0.5 else rng.choice(COMBINING)),
        (7, lambda: rng.choice(WORDS).rstrip(".") + rng.choice(CONTRACTIONS)),
        (6, lambda: rng.choice(QWEN_SPECIAL + SMOL_SPECIAL)),
        (4, lambda: rng.choice(PARTIAL_SPECIAL)),
        (4, lambda: rng.choice(ODD)),
        (3, lambda: rand_codepoints(rng)),
    ]
    total = sum(w for w, _ in pools)
    x = rng.uniform(0, total)
    for w, f in pools:
        x -= w
        if x <= 0:
            return f()
    return pools[0][1]()


def paragraph(rng):
    sents = []
    for _ in range(rng.randint(3, 12)):
        ws = [rng.choice(WORDS) for _ in range(rng.randint(4, 18))]
        ws[0] = ws[0].capitalize()
        if rng.random() < 0.3:
            ws.insert(rng.randrange(len(ws)), rand_number(rng))
        if rng.random() < 0.2:
            ws.insert(rng.randrange(len(ws)), rng.choice(CJK + SCRIPTS + EMOJI))
        sents.append(" ".join(ws) + rng.choice([".", "!", "?", ":", ";", "..."]))
    sep = rng.choice([" ", "  ", "\n", "\n\n", "\r\n"])
    return sep.join(sents)


def chat(rng):
    parts = []
    for role in rng.sample(["system", "user", "assistant"], rng.randint(1, 3)):
        body = rand_fragment(rng) + rng.choice(["", " ", "\n"]) + rand_fragment(rng)
        parts.append(f"<|im_start|>{role}\n{body}<|im_end|>\n")
    if rng.random() < 0.5:
        parts.append("<|im_start|>assistant\n")
    return "".join(parts)


def build_strings():
    rng = random.Random(20240601)
    out = list(FIXED) + MINI
    out += CODE + NUMBERS_FIXED + SPACES + CJK + SCRIPTS + EMOJI + COMBINING + ODD
    out += [w + c for w in ("it", "IT", "you", "They", "JOHN") for c in CONTRACTIONS]
    out += QWEN_SPECIAL + SMOL_SPECIAL + PARTIAL_SPECIAL
    for _ in range(1300):
        n = rng.randint(1, 8)
        seps = ["", " ", " ", "\n", "  ", "\t", "\r\n"]
        s = ""
        for i in range(n):
            if i:
                s += rng.choice(seps)
            s += rand_fragment(rng)
        out.append(s)
    for _ in range(300):
        out.append(rand_codepoints(rng))
    for _ in range(200):
        out.append(paragraph(rng))
    for _ in range(150):
        out.append(chat(rng))
    for _ in range(100):  # digit runs and whitespace runs of many lengths
        out.append(rand_number(rng) + rng.choice(SPACES) * rng.randint(1, 5) + rand_number(rng))
    for _ in range(60):  # NFC/NFD variants of the same text
        s = paragraph(rng)[:80] + " " + " ".join(rng.choice(COMBINING) for _ in range(3))
        out.append(unicodedata.normalize("NFD", s))
        out.append(unicodedata.normalize("NFC", s))
    # a few long inputs: long runs that stress the regex and the BPE
    out.append(" " * 300)
    out.append("a" * 500)
    out.append("\n" * 100 + "x")
    out.append("1234567890" * 40)
    out.append("你好" * 200)
    out.append("🙂" * 100)
    out.append("".join(rand_fragment(rng) for _ in range(200)))
    seen, uniq = set(), []
    for s in out:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    return uniq


# ---------------------------------------------------------------------------------------------
# Mini tokenizers (options the real ones do not use)

def train_corpus():
    rng = random.Random(7)
    return [paragraph(rng) for _ in range(300)] + CODE + CJK + SCRIPTS + EMOJI


def legacy_merges(tok_json):
    d = json.loads(tok_json)
    d["model"]["merges"] = [a + " " + b for a, b in
                            (m if isinstance(m, list) else m.split(" ") for m in d["model"]["merges"])]
    return d


def mini_bytelevel():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(train_corpus(), trainer)
    tok.add_special_tokens([AddedToken("<s>", normalized=False), AddedToken("</s>", normalized=False),
                            AddedToken("<mask>", lstrip=True, rstrip=True, normalized=False)])
    tok.add_tokens([
        AddedToken("hello", single_word=True, normalized=False),
        AddedToken("[L]", lstrip=True, normalized=False),
        AddedToken("[R]", rstrip=True, normalized=False),
        AddedToken("café", normalized=True),
        AddedToken("naïve", normalized=True, single_word=True),
        AddedToken("<|im", normalized=False),
        AddedToken("<|im_start|>", normalized=False),
        AddedToken("the", normalized=True, lstrip=True),
        AddedToken("ab", normalized=False),
        AddedToken("abc", normalized=True),
        AddedToken("∑x", normalized=False),  # not byte-level characters: decoded as UTF-8
    ])
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> $B:1 </s>:1",
        special_tokens=[("<s>", bos), ("</s>", eos)])
    # Store merges as "a b" strings (the older serialisation) to cover that form.
    return json.dumps(legacy_merges(tok.to_str()), ensure_ascii=False, indent=1)


def mini_split():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.NFC()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\d"), behavior="merged_with_previous"),
        pre_tokenizers.Split(" ", behavior="merged_with_next"),
        pre_tokenizers.Split(Regex(r"[,;]+"), behavior="removed"),
        pre_tokenizers.Split(Regex(r"\p{L}+"), behavior="contiguous", invert=True),
        pre_tokenizers.Split(Regex(r"[^\p{P}]+"), behavior="merged_with_next", invert=True),
        pre_tokenizers.Split(Regex(r"(?<=\p{Lu})(?=\p{Ll})|!+(?!\?)"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(train_corpus(), trainer)
    d = json.loads(tok.to_str())
    # Whole words that merges cannot reach: only ignore_merges finds them.
    vocab = d["model"]["vocab"]
    nxt = max(vocab.values()) + 1
    for w in ["Ġthe", "hello", "Ġmodel", "Ġtokenizer", "world"]:
        if w not in vocab:
            vocab[w] = nxt
            nxt += 1
    d["model"]["ignore_merges"] = True
    d["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                           "use_regex": True}
    return json.dumps(d, ensure_ascii=False, indent=1)


def mini_fallback():
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True,
                               continuing_subword_prefix="##"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(r"\s+"), behavior="merged_with_next")
    # (No limit_alphabet: its ties between equally frequent characters are broken in hash order,
    # which would make the file differ from run to run.)
    trainer = trainers.BpeTrainer(vocab_size=700, show_progress=False, special_tokens=["<unk>"],
                                  continuing_subword_prefix="##")
    tok.train_from_iterator(train_corpus(), trainer)
    d = json.loads(tok.to_str())
    # The trainer numbers the "##x" alphabet in hash order; renumber the vocabulary canonically
    # (special tokens, then the alphabet sorted, then merged tokens in merge order) so that the
    # file is the same on every run. BPE depends on token strings, not on their numbering.
    vocab = d["model"]["vocab"]
    created = {}
    for rank, (a, b) in enumerate(d["model"]["merges"]):
        created.setdefault(a + b[len("##"):], rank)
    specials = [t["content"] for t in d["added_tokens"]]
    order = sorted(vocab, key=lambda t: (0 if t in specials else 1, created.get(t, -1), t))
    vocab = d["model"]["vocab"] = {t: i for i, t in enumerate(order)}
    for t in d["added_tokens"]:
        t["id"] = vocab[t["content"]]
    nxt = len(vocab)
    # Byte tokens for bytes below 0xE0 only: two-byte characters fall back to bytes, three- and
    # four-byte characters (CJK, emoji) fall back to the fused <unk>.
    for b in range(0xE0):
        vocab["<0x%02X>" % b] = nxt
        nxt += 1
    d["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Replace", "pattern": {"String": "##"}, "content": ""}]}
    return json.dumps(d, ensure_ascii=False, indent=1)


# ---------------------------------------------------------------------------------------------
# Goldens

def decode_cases(tok, rng, n, strings):
    size = tok.get_vocab_size(with_added_tokens=True)
    vocab = dict(sorted(tok.get_vocab(with_added_tokens=True).items(), key=lambda kv: kv[1]))
    # Tokens that are one byte >= 0x80 (byte-level: one of the 128 mapped characters, or a
    # <0xAB> byte token): sequences of them split multi-byte characters.
    byte_chars = [c for c in (chr(x) for x in range(0x80, 0x200)) if c in vocab]
    byte_ids = [vocab[c] for c in byte_chars] + [vocab[t] for t in vocab if len(t) == 6 and t.startswith("<0x")]
    special = [vocab[t] for t in vocab if t.startswith("<") and t.endswith(">") and len(t) > 2][:40]
    cases = []
    for i in range(n):
        k = i % 4
        if k == 0:
            ids = [rng.randrange(size) for _ in range(rng.randint(1, 12))]
        elif k == 1 and byte_ids:
            ids = [rng.choice(byte_ids) if rng.random() < 0.8 else rng.randrange(size)
                   for _ in range(rng.randint(1, 10))]
        elif k == 2:
            ids = tok.encode(rng.choice(strings), add_special_tokens=False).ids
            if len(ids) > 1:
                a = rng.randrange(len(ids))
                b = rng.randrange(a, len(ids)) + 1
                ids = ids[a:b]
            if rng.random() < 0.5 and ids:
                del ids[rng.randrange(len(ids))]
        else:
            ids = [rng.choice(special) if special and rng.random() < 0.4 else rng.randrange(size)
                   for _ in range(rng.randint(0, 8))]
            if rng.random() < 0.3:
                ids.insert(rng.randint(0, len(ids)), size + 1000)  # out of range: skipped
        cases.append({"ids": ids, "text": tok.decode(ids, skip_special_tokens=False),
                      "text_skip": tok.decode(ids, skip_special_tokens=True)})
    return cases


def write_golden(name, tok_ref, tok, strings, n_decode, seed):
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
    doc = {"tokenizer": tok_ref, "vocab_size": tok.get_vocab_size(with_added_tokens=True),
           "added_tokens": added, "vocab_sample": sample, "cases": cases,
           "decode_cases": decode_cases(tok, rng, n_decode, strings)}
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    base = os.path.join(HERE, f"golden_{name}.json")
    for p in (base, base + ".gz"):
        if os.path.exists(p):
            os.remove(p)
    with gzip.GzipFile(base + ".gz", "wb", mtime=0) as f:
        f.write(data)
    print(f"wrote {base}.gz ({len(data)} bytes before gzip, {len(cases)} strings)")


def write_unicode_golden(strings):
    # Independent references for two helpers the tokenizer relies on: canonical normalisation
    # (Python's unicodedata, Unicode 14.0.0) and lossy UTF-8 decoding (bytes.decode with
    # errors="replace" substitutes one U+FFFD per maximal ill-formed subsequence, as Rust's
    # String::from_utf8_lossy does).
    rng = random.Random(3)
    texts = list(strings)
    for _ in range(3000):
        texts.append("".join(rand_combining(rng) if rng.random() < 0.5 else rand_codepoints(rng)[:3]
                             for _ in range(rng.randint(1, 6))))
    norm = [{"text": t, "nfc": unicodedata.normalize("NFC", t), "nfd": unicodedata.normalize("NFD", t)}
            for t in texts]
    utf8 = []
    interesting = [0x00, 0x41, 0x7F, 0x80, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED,
                   0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF, 0x8F, 0x90, 0x9F, 0xA0]
    for _ in range(3000):
        n = rng.randint(1, 12)
        b = bytes(rng.choice(interesting) if rng.random() < 0.7 else rng.randrange(256) for _ in range(n))
        if rng.random() < 0.3:  # a valid character cut short
            c = chr(rng.choice([0xE9, 0x4F60, 0x1F600, 0x10FFFF, 0x800, 0xFFFD])).encode()
            b = b[: n // 2] + c[: rng.randint(1, len(c))] + b[n // 2:]
        utf8.append({"hex": b.hex(), "text": b.decode("utf-8", errors="replace")})
    data = json.dumps({"unicode_version": unicodedata.unidata_version, "normalization": norm,
                       "utf8": utf8}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    with gzip.GzipFile(os.path.join(HERE, "golden_unicode.json.gz"), "wb", mtime=0) as f:
        f.write(data)
    print(f"wrote golden_unicode.json.gz ({len(norm)} normalisation, {len(utf8)} UTF-8 cases)")


def smollm2_json():
    # The SmolLM2 tokenizer exists only inside the GGUF. transformers' GGUF conversion builds a
    # tokenizers.Tokenizer from the tokenizer.ggml.* metadata; we keep what it produces.
    from transformers import AutoTokenizer
    gguf_dir = os.path.join(ASSETS, "smollm2")
    tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    return tok.backend_tokenizer.to_str()


def save(rel, text):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        if not text.endswith("\n"):
            f.write("\n")
    size = os.path.getsize(path)
    assert size < 3 << 20, f"{rel} is {size} bytes; gzip it"
    return path


def main():
    strings = build_strings()
    assert len(strings) >= 2000, len(strings)
    print(f"{len(strings)} test strings")

    write_unicode_golden(strings)

    qwen = Tokenizer.from_file(os.path.join(ASSETS, "qwen3", "tokenizer.json"))
    write_golden("qwen3", "qwen3/tokenizer.json", qwen, strings, 400, 1)

    smol_path = save("smollm2/tokenizer.json", smollm2_json())
    smol = Tokenizer.from_file(smol_path)
    write_golden("smollm2", "smollm2/tokenizer.json", smol, strings, 400, 2)

    subset = list(dict.fromkeys(FIXED + MINI + strings[::4]))
    for i, (name, build) in enumerate([("mini_bytelevel", mini_bytelevel), ("mini_split", mini_split),
                                       ("mini_fallback", mini_fallback)]):
        path = save(f"{name}/tokenizer.json", build())
        tok = Tokenizer.from_file(path)
        write_golden(name, f"{name}/tokenizer.json", tok, subset, 150, 10 + i)


if __name__ == "__main__":
    sys.exit(main())
