#!/usr/bin/env python3
# Golden-file generator for package github.com/nashmd/nashmd/hf/chat.
#
# Pinned versions (the outputs in this directory were produced with exactly these):
#   python        3.11
#   transformers  4.46.3  (PreTrainedTokenizerBase.apply_chat_template: Jinja2 ImmutableSandboxedEnvironment,
#                          trim_blocks, lstrip_blocks, loopcontrols, tojson = json.dumps(ensure_ascii=False),
#                          raise_exception, strftime_now; special_tokens_map passed as variables)
#   jinja2        3.1.4
#   tokenizers    0.20.3
#   gguf          0.10.0  (GGUFReader, to read the SmolLM2 template from the GGUF metadata)
#
# Run from the repository root (make golden does, with NASHMD_ASSETS set):
#   /work/main/.venv/bin/python hf/chat/testdata/gen_golden.py
#
# Reads assets from $NASHMD_ASSETS (default third_party/cache):
#   qwen3/tokenizer_config.json, qwen3/tokenizer.json, smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
#
# Writes, next to this script, one JSON file per template:
#   qwen3.json     the Qwen3 template, rendered by AutoTokenizer.from_pretrained(<asset dir>)
#   qwen2.json     the Qwen2-Instruct template of testdata/qwen2/tokenizer_config.json (see
#                  testdata/qwen2/PROVENANCE.md), rendered by AutoTokenizer over that config plus the
#                  Qwen tokenizer.json asset (Qwen2 and Qwen3 share the vocabulary)
#   smollm2.json   the GGUF's tokenizer.chat_template, rendered by a PreTrainedTokenizerFast whose special
#                  tokens are the GGUF's bos/eos/unk/padding token ids mapped through tokenizer.ggml.tokens
#   features.json  small templates exercising what the Go port must reproduce (whitespace control, string
#                  escapes, str() of values, tojson options, strftime_now, loop controls, raise_exception...)
#
# Every file holds the template source, the special-token variables transformers passed
# (tokenizer.special_tokens_map) and the cases: messages (role, content, then extra keys in order; an
# extra key has "value" for a string or "json" for any JSON value), add_generation_prompt, tools,
# documents, vars (apply_chat_template **kwargs), and "expected" (the rendered string) or "error" (the
# message of the jinja2 TemplateError raised by raise_exception). Nothing here comes from the Go code.

import datetime
import json
import os
import shutil
import sys
import tempfile

import gguf
import jinja2
import tokenizers
import transformers
import transformers.utils.chat_template_utils as ctu
from transformers import AutoTokenizer, PreTrainedTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
ASSETS = os.environ.get("NASHMD_ASSETS") or os.path.join(ROOT, "third_party", "cache")

VERSIONS = {
    "python": "%d.%d" % sys.version_info[:2],
    "transformers": transformers.__version__,
    "jinja2": jinja2.__version__,
    "tokenizers": tokenizers.__version__,
}
for name, want in [("transformers", "4.46.3"), ("jinja2", "3.1.4")]:
    if VERSIONS[name] != want:
        sys.exit(f"gen_golden.py: {name} {VERSIONS[name]} found, {want} pinned")

# strftime_now calls datetime.now() inside transformers.utils.chat_template_utils; freeze it.
NOW = (2024, 7, 9, 8, 5, 3, 123456)


class FrozenDatetime(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(*NOW)


ctu.datetime = FrozenDatetime


# ---------------------------------------------------------------------------
# Conversations


def msg(role, content, **extra):
    """A message: role, content, then extra keys in the given order."""
    return (role, content, list(extra.items()))


SYS = "You are a careful assistant."
CONVERSATIONS = [
    ("single_user", [msg("user", "Hello!")]),
    ("system_user", [msg("system", SYS), msg("user", "What is 2+2?")]),
    ("multi_turn", [
        msg("user", "Hi"), msg("assistant", "Hello! How can I help?"),
        msg("user", "Tell me a joke."), msg("assistant", "Why did the chicken cross the road?"),
        msg("user", "Why?")]),
    ("system_multi_turn_ends_assistant", [
        msg("system", SYS), msg("user", "Name a colour."), msg("assistant", "Blue.")]),
    ("empty_user", [msg("user", "")]),
    ("empty_system_and_assistant", [msg("system", ""), msg("user", "x"), msg("assistant", "")]),
    ("unicode_emoji", [
        msg("user", "Grüße aus Zürich 👋🏽 — 你好，世界! Привет. عربى 🇫🇷 e\u0301 \u200d"),
        msg("assistant", "¡Hola! 😀 ∑ x² ≤ ∞")]),
    ("jinja_looking_user", [msg("user", "{{ x }} and {% if %} and {# c #} and {%- endfor -%} {{- raise_exception('x') }}")]),
    ("jinja_looking_assistant", [
        msg("user", "show me jinja"), msg("assistant", "{% for m in messages %}{{ m }}{% endfor %}"),
        msg("user", "{% raw %}{{ y }}{% endraw %}")]),
    ("newlines_trailing_ws", [msg("user", "line one\n\nline two   \n\t\n  "), msg("assistant", "\n\nanswer\n\n")]),
    ("leading_ws", [msg("system", "   indented system"), msg("user", "\n\n\tfirst")]),
    ("crlf_content", [msg("user", "a\r\nb\rc\r\n")]),
    ("quotes_backslashes", [msg("user", "He said \"hi\" and it's \\n literally \\ C:\\path\\ 'single'")]),
    ("special_token_text", [msg("user", "<|im_start|>user\nfake<|im_end|>\n<|endoftext|>")]),
    ("system_only", [msg("system", SYS)]),
    ("assistant_first", [msg("assistant", "I speak first."), msg("user", "ok")]),
    ("consecutive_users", [msg("user", "one"), msg("user", "two"), msg("system", "late system"), msg("user", "three")]),
    ("whitespace_only", [msg("user", "   "), msg("assistant", "\u00a0\u3000")]),
    ("control_chars", [msg("user", "nul\u0000 bell\u0007 esc\u001b del\u007f sep\u2028end")]),
    ("long_conversation", [m for i in range(4) for m in (
        msg("user", f"question {i}: " + "word " * (i + 1)), msg("assistant", f"answer {i}"))] + [msg("user", "last")]),
    ("extra_fields", [
        msg("system", SYS, name="rules"),
        msg("user", "hi", name="alice"),
        msg("assistant", "hello", reasoning_content="The user greets me.")]),
    ("tool_role", [msg("user", "weather?"), msg("assistant", "Calling."), msg("tool", "{\"temp\": 21}"), msg("user", "thanks")]),
]

# Qwen3-specific turns: thinking, reasoning_content, tool calls, tools, enable_thinking.
QWEN3_EXTRA = [
    ("think_in_history", [
        msg("user", "2+2?"), msg("assistant", "<think>\nadd them\n</think>\n\n4"),
        msg("user", "3+3?"), msg("assistant", "<think>\nagain\n</think>\n\n6")], {}),
    ("think_last_turn_open", [
        msg("user", "q"), msg("assistant", "<think>\nonly thinking so far")], {}),
    ("reasoning_content_field", [
        msg("user", "q1"), msg("assistant", "a1", reasoning_content="r1"),
        msg("user", "q2"), msg("assistant", "a2", reasoning_content="\nr2\n")], {}),
    ("enable_thinking_false", [msg("user", "quick answer please")], {"vars": {"enable_thinking": False}}),
    ("enable_thinking_true", [msg("user", "think hard")], {"vars": {"enable_thinking": True}}),
]

TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather",
        "description": "Weather for a city — in °C, \"quoted\" & <b>bold</b>",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name, e.g. Zürich"},
            "days": {"type": "integer", "minimum": 1, "maximum": 14, "default": 3},
            "threshold": {"type": "number", "default": 0.5, "examples": [1.0, 1e-7, 12345678901234567890.0, 250.0]},
            "units": {"type": "string", "enum": ["metric", "imperial"]},
            "verbose": {"type": "boolean", "default": False}, "extra": {"type": ["object", "null"], "default": None}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "noop", "description": "", "parameters": {"type": "object", "properties": {}}}},
]
TOOL_CALL_CONV = [
    msg("system", SYS), msg("user", "Weather in Paris and Rome?"),
    msg("assistant", "", tool_calls=[
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2, "threshold": 0.25}}},
        {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]),
    msg("tool", "{\"temp\": 18.5}"), msg("tool", "{\"temp\": 24}"),
    msg("assistant", "Paris 18.5 °C, Rome 24 °C."), msg("user", "<tool_response>\nnot really\n</tool_response>")]
QWEN3_EXTRA += [
    ("tools_with_system", [msg("system", SYS), msg("user", "Weather in Oslo?")], {"tools": TOOLS}),
    ("tools_without_system", [msg("user", "Weather in Oslo?")], {"tools": TOOLS}),
    ("tool_calls_and_responses", TOOL_CALL_CONV, {"tools": TOOLS}),
    ("tool_calls_no_tools", TOOL_CALL_CONV, {}),
]


# ---------------------------------------------------------------------------
# Feature templates (rendered with a PreTrainedTokenizerFast carrying FEATURE_SPECIALS)

FEATURE_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
TWO = [msg("system", "  sys  "), msg("user", "Hello, world"), msg("assistant", "Hi there"), msg("user", "Bye")]
FEATURES = [
    ("lstrip_trim_blocks",
     "{% for m in messages %}\n    {{ m.role }}: {{ m.content }}\n    {% if loop.last %}LAST{% endif %}\n{% endfor %}\n", TWO, {}),
    ("lstrip_not_after_expression",
     "{{ 'a' }}   {% if true %}x{% endif %}   \n  {%+ if true %}y{% endif %}\n{%- if true -%}  z  {%- endif %}\nend", TWO, {}),
    ("comments", "x\n   {# c #}\ny {#- c2 -#}   w\n{# c3 +#}\nz {#+ c4 #}  \t{# c5 #}\n", TWO, {}),
    ("raw_block", "{% raw %}{{ not a var }} {% if %}{% endraw %}\n  {%- raw -%}  {% x %}  {%- endraw %}|\n   {% raw %}k{% endraw %}\nq", TWO, {}),
    ("crlf_source", "line1\r\n{% if true %}\r\nA\r\n  {% endif %}\r\nB\r\n", TWO, {}),
    ("trailing_newlines", "{{ messages[0].content }}\n\n", TWO, {}),
    ("one_trailing_newline", "{{ messages[1].content }}\n", TWO, {}),
    ("unicode_whitespace_trim", "x\n\u3000\u00a0{% if true %}y{% endif %}\na \u3000\n{{- 'b' -}}\u2003 c", TWO, {}),
    ("block_end_newlines", "{% if true -%}   \n\n  a{% endif %}\n\nb{% if true +%}\nc{% endif %}", TWO, {}),
    ("string_escapes",
     "{{ '\\x41\\u00e9\\U0001F600\\t|\\101|\\'q\\'|\"dq\"|\\d|\\\\' }}{{ \"a\\\"b\\n\" }}{{ 'é\\\n' }}", TWO, {}),
    ("text_quotes_backslashes", "It's a \"test\" \\ C:\\dir\\ '{{ messages[1].content }}'\\", TWO, {}),
    ("print_values",
     "{{ none }}|{{ 1.0 }}|{{ 1.5e20 }}|{{ 0.0001 }}|{{ 0.00001 }}|{{ 1234567.0 }}|{{ [1, 'a', none, true, 2.5] }}|"
     "{{ {'k': \"it's\", 'n': [1.5e-7]} }}|{{ 3 }}|{{ -0.0 }}|{{ undefined_var }}|{{ true }}|{{ messages[0] }}|"
     "{{ messages[0].meta }}|{{ 'tab\\there' }}|{{ ['q\"', \"x'y\", 'both\\'\"', 'nl\\n', 'é', '\\u200b'] }}",
     [msg("user", "c", meta={"score": 0.1, "n": 10000000000000000.0, "f": 1e-5, "i": -3, "ok": True, "z": None, "l": []})], {}),
    ("float_repr",
     "{{ messages[0].floats }}\n{{ messages[0].floats | tojson }}\n{% for f in messages[0].floats %}{{ f }} {% endfor %}",
     [msg("user", "f", floats=[0.1, 1 / 3, 2 / 3, 1e16, 9999999999999998.0, 1e-4, 1.5e-5, 123.456, -2.5e-300, 5e-324,
                               1.7976931348623157e308, 2.0 ** 53, 100.0, 1e22, 0.3, -0.0, 1e15, 123456789012345.6,
                               0.000123, 1e-7, 12345678901234567890.0, 4.35, 2.5, 1e100])], {}),
    ("tojson",
     "{{ messages | tojson }}\n{{ tools | tojson(indent=2) }}\n{{ tools | tojson(separators=(',', ':'), sort_keys=true) }}\n"
     "{{ messages[0].content | tojson(ensure_ascii=true) }}\n{{ {} | tojson }}{{ [] | tojson(indent=2) }}\n"
     "{{ tools[0] | tojson(indent='\\t') }}\n{{ messages[0].content | tojson(false, 1) }}\n{{ messages[0].score|tojson }}",
     [msg("user", "é 😀 \"q\" \\ </script> &<> \u0001\u007f\u2028 \n\t", score=0.5)], {"tools": TOOLS}),
    ("loop_controls",
     "{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}{% if loop.index > 3 %}{% break %}{% endif %}"
     "{{ loop.index }}/{{ loop.length }}:{{ m.content }}{{ ';' if not loop.last }}{% endfor %}", TWO, {}),
    ("strftime_now",
     "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S') }}|{{ strftime_now('%A %B %j %I%p %y %% %f') }}|"
     "{{ strftime_now('%a %e %-d %-m %H:%M %c %D %T %u %w %U %W %V %G') }}|[{{ strftime_now('%Z%z') }}]", TWO, {}),
    ("raise_exception_bad_role",
     "{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}"
     "{{ raise_exception('Only user and assistant roles are supported! Got ' + m.role) }}{% endif %}"
     "[{{ m.role }}]{{ m.content }}{% endfor %}", TWO, {}),
    ("raise_exception_ok",
     "{% for m in messages %}{% if m.role not in ['user', 'assistant'] %}"
     "{{ raise_exception('Only user and assistant roles are supported! Got ' + m.role) }}{% endif %}"
     "[{{ m.role }}]{{ m.content }}{% endfor %}", TWO[1:], {}),
    ("raise_exception_alternation",
     "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
     "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
     "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
     "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% endif %}{% endfor %}",
     [msg("user", "a"), msg("user", "b")], {}),
    ("special_tokens",
     "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}|{{ pad_token is defined }}|{{ unk_token }}|{{ sep_token }}",
     TWO, {}),
    ("namespace_macro",
     "{% set ns = namespace(n=0, last='') %}{% macro fmt(m, sep=': ') %}{{ m.role | upper }}{{ sep }}{{ m.content | trim }}{% endmacro %}"
     "{% for m in messages %}{% set ns.n = ns.n + 1 %}{% set ns.last = m.role %}{{ fmt(m) }}\n{% endfor %}{{ ns.n }} {{ ns.last }}",
     TWO, {}),
    ("generation_block",
     "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}"
     "{% else %}{{ m.content }}{% endif %}\n{% endfor %}", TWO, {}),
    ("dict_items_order",
     "{% for m in messages %}{% for k, v in m.items() %}{{ k }}={{ v }};{% endfor %}\n{% endfor %}",
     [msg("user", "u", zeta="z", alpha="a", mid="m"), msg("assistant", "x", name="n")], {}),
    ("documents",
     "{% if documents %}{% for d in documents %}{{ loop.index }}. {{ d.title }}: {{ d.text }}\n{% endfor %}{% endif %}{{ messages[-1].content }}",
     TWO, {"documents": [{"title": "Doc A", "text": "alpha"}, {"title": "Doc B", "text": "béta"}]}),
    ("vars_override",
     "{{ eos_token }}|{{ custom }}|{{ flag is true }}|{{ number + 1 }}|{{ items | join(',') }}",
     TWO, {"vars": {"eos_token": "<EOS>", "custom": "c", "flag": True, "number": 41, "items": ["x", "y"]}}),
    ("filters",
     "{{ messages | length }}|{{ (messages | first).role }}|{{ (messages | last).content | upper }}|"
     "{{ undefined_x | default('dflt') }}|{{ '  pad  ' | trim }}|{{ 'a-b-c' | replace('-', '+') }}|"
     "{{ messages | selectattr('role', 'equalto', 'user') | list | length }}|{{ 'ab' | length }}|{{ 'é😀' | length }}",
     TWO, {}),
    ("string_methods",
     "{{ messages[0].content.strip() }}|{{ '  x  '.lstrip() }}|{{ 'a,b,c'.split(',') }}|{{ 'Hello'.startswith('He') }}|"
     "{{ 'abc'[::-1] }}|{{ 'abc'[1:] }}|{{ 'a b  c'.split() }}|{{ 'xxhixx'.strip('x') }}|{{ 'éa'[0] }}|{{ 'Hi'.endswith('i') }}",
     TWO, {}),
    # Arithmetic stays with non-negative operands and a float "**": ardanlabs/jinja evaluates int ** int
    # as a float and // and % with Go's truncation; the package documents this difference.
    ("tests_and_operators",
     "{{ messages is defined }}|{{ nothing is undefined }}|{{ none is none }}|{{ 'x' is string }}|{{ 3 is number }}|"
     "{{ messages[0] is mapping }}|{{ 'ell' in 'hello' }}|{{ 'user' in messages | map(attribute='role') | list }}|"
     "{{ 2 * 3 + 1 }}|{{ 7 // 2 }}|{{ 7 % 3 }}|{{ 2.0 ** 10 }}|{{ 7 / 2 }}|{{ 'a' ~ 1 ~ 'b' }}|{{ [1, 2] + [3] }}|{{ 1 < 2 and not 2 < 1 }}",
     TWO, {}),
    ("inline_if_and_slices",
     "{% for m in messages[1:] %}{{ m.content if m.role == 'user' else m.content | upper }}{{ ',' if not loop.last }}{% endfor %}"
     "|{% for m in messages[::-1] %}{{ m.role[0] }}{% endfor %}|{{ messages[-1].role }}",
     TWO, {}),
    ("nested_loops_loop_vars",
     "{% for m in messages %}{% set outer = loop.index0 %}{% for c in m.content[:3] %}{{ outer }}{{ loop.index0 }}{{ c }}"
     "{% endfor %}{{ '|' if loop.first else '' }}{{ loop.revindex }}{% endfor %}",
     TWO, {}),
]


# ---------------------------------------------------------------------------


def to_python(messages):
    out = []
    for role, content, extra in messages:
        m = {"role": role, "content": content}
        for k, v in extra:
            m[k] = v
        out.append(m)
    return out


def to_golden(messages):
    out = []
    for role, content, extra in messages:
        e = [{"key": k, "value": v} if isinstance(v, str) else {"key": k, "json": v} for k, v in extra]
        out.append({"role": role, "content": content, "extra": e})
    return out


def render(tok, name, messages, agp, opts, chat_template=None):
    case = {"name": name, "messages": to_golden(messages), "add_generation_prompt": agp,
            "tools": opts.get("tools"), "documents": opts.get("documents"), "vars": opts.get("vars", {})}
    kwargs = dict(opts.get("vars", {}))
    if chat_template is not None:
        kwargs["chat_template"] = chat_template
    try:
        case["expected"] = tok.apply_chat_template(
            to_python(messages), tools=opts.get("tools"), documents=opts.get("documents"),
            add_generation_prompt=agp, tokenize=False, **kwargs)
    except jinja2.exceptions.TemplateError as e:
        case["error"] = str(e)
    return case


def conversation_cases(tok, extra=()):
    cases = []
    for name, messages in CONVERSATIONS:
        for agp in (False, True):
            cases.append(render(tok, f"{name}/agp={agp}", messages, agp, {}))
    for name, messages, opts in extra:
        for agp in (False, True):
            cases.append(render(tok, f"{name}/agp={agp}", messages, agp, opts))
    return cases


def write(fname, doc):
    doc = {"generator": "hf/chat/testdata/gen_golden.py", "versions": VERSIONS, **doc}
    path = os.path.join(HERE, fname)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    n = len(doc["cases"])
    print(f"wrote {os.path.relpath(path, ROOT)}: {n} cases")


def gguf_string(reader, key):
    field = reader.fields[key]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def gguf_int(reader, key):
    field = reader.fields[key]
    return int(field.parts[field.data[0]][0])


def main():
    qwen3_dir = os.path.join(ASSETS, "qwen3")
    tokenizer_json = os.path.join(qwen3_dir, "tokenizer.json")

    # Qwen3: the asset directory as transformers loads it.
    tok = AutoTokenizer.from_pretrained(qwen3_dir)
    write("qwen3.json", {
        "template": {"asset": "qwen3/tokenizer_config.json", "source": tok.chat_template},
        "special_tokens_map": tok.special_tokens_map,
        "cases": conversation_cases(tok, QWEN3_EXTRA)})

    # Qwen2-Instruct: the committed config next to the Qwen tokenizer.json.
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(os.path.join(HERE, "qwen2", "tokenizer_config.json"), d)
        shutil.copy(tokenizer_json, d)
        tok = AutoTokenizer.from_pretrained(d)
        write("qwen2.json", {
            "template": {"file": "qwen2/tokenizer_config.json", "source": tok.chat_template},
            "special_tokens_map": tok.special_tokens_map,
            "cases": conversation_cases(tok)})

    # SmolLM2: template and special tokens from the GGUF metadata.
    reader = gguf.GGUFReader(os.path.join(ASSETS, "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    source = gguf_string(reader, "tokenizer.chat_template")
    tokens_field = reader.fields["tokenizer.ggml.tokens"]

    def token(i):
        return bytes(tokens_field.parts[tokens_field.data[i]]).decode("utf-8")

    specials = {
        "bos_token": token(gguf_int(reader, "tokenizer.ggml.bos_token_id")),
        "eos_token": token(gguf_int(reader, "tokenizer.ggml.eos_token_id")),
        "unk_token": token(gguf_int(reader, "tokenizer.ggml.unknown_token_id")),
        "pad_token": token(gguf_int(reader, "tokenizer.ggml.padding_token_id")),
    }
    tok = PreTrainedTokenizerFast(tokenizer_file=tokenizer_json, chat_template=source, **specials)
    write("smollm2.json", {
        "template": {"gguf_key": "tokenizer.chat_template", "source": source},
        "special_tokens_map": tok.special_tokens_map,
        "cases": conversation_cases(tok)})

    # Feature templates.
    tok = PreTrainedTokenizerFast(tokenizer_file=tokenizer_json, chat_template="{{ '' }}", **FEATURE_SPECIALS)
    cases = []
    for name, source, messages, opts in FEATURES:
        for agp in (False, True):
            case = render(tok, f"{name}/agp={agp}", messages, agp, opts, chat_template=source)
            case["source"] = source
            cases.append(case)
    write("features.json", {
        "special_tokens_map": tok.special_tokens_map,
        "now": list(NOW),
        "cases": cases})


if __name__ == "__main__":
    main()
