package gguf

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// GGUF token types (tokenizer.ggml.token_type), as in llama.cpp; 5 (unused)
// and 6 (byte) are ordinary vocabulary entries here.
const (
	tokenNormal      = 1
	tokenUnknown     = 2
	tokenControl     = 3
	tokenUserDefined = 4
)

// Regular expressions of the Hugging Face Split pre-tokenizers that
// llama.cpp's pre-tokenizer types stand for (llama-vocab.cpp and unicode.cpp
// list the same expressions).
const (
	regexLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	regexQwen2  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// preTokenizer is what a tokenizer.ggml.pre value stands for in tokenizer.json
// terms, plus the llama.cpp flags that go with it.
type preTokenizer struct {
	normalizer  any     // tokenizer.json "normalizer" (nil: null)
	pre         any     // tokenizer.json "pre_tokenizer"
	byteLevel   ordered // the ByteLevel settings, reused by post_processor and decoder
	ignoreMerge bool    // model.ignore_merges
	addBOS      bool    // llama.cpp's default add_bos for this type
	cleanSpaces bool    // clean_up_tokenization_spaces
}

func byteLevel(prefixSpace, trimOffsets, useRegex bool) ordered {
	return ordered{{"type", "ByteLevel"}, {"add_prefix_space", prefixSpace},
		{"trim_offsets", trimOffsets}, {"use_regex", useRegex}}
}

func split(regex string) ordered {
	return ordered{{"type", "Split"}, {"pattern", ordered{{"Regex", regex}}},
		{"behavior", "Isolated"}, {"invert", false}}
}

func sequence(pre ...any) ordered {
	return ordered{{"type", "Sequence"}, {"pretokenizers", pre}}
}

// preTokenizerFor returns the pre-tokenizer for a tokenizer.ggml.pre value.
// The mapping follows llama.cpp's llama-vocab.cpp: each type names a list of
// regular expressions applied in turn, which is what the model's original
// tokenizer.json pre-tokenizer does.
//
//	gpt-2, mpt, olmo                   GPT-2 regex                     → ByteLevel(use_regex)
//	smollm, starcoder, refact, codeshell  \p{N}, then the GPT-2 regex  → Digits(individual) + ByteLevel(use_regex)
//	llama-bpe, llama3, llama-v3        Llama 3 regex (digits by threes) → Split + ByteLevel
//	qwen2, deepseek-r1-qwen            Qwen2 regex (single digits)      → NFC, Split + ByteLevel
func preTokenizerFor(pre string, prefixSpace bool) (preTokenizer, bool) {
	switch pre {
	case "gpt-2", "mpt", "olmo":
		bl := byteLevel(prefixSpace, true, true)
		return preTokenizer{pre: bl, byteLevel: bl, cleanSpaces: true}, true
	case "smollm", "starcoder", "refact", "codeshell":
		bl := byteLevel(prefixSpace, true, true)
		digits := ordered{{"type", "Digits"}, {"individual_digits", true}}
		return preTokenizer{pre: sequence(digits, bl), byteLevel: bl, cleanSpaces: pre != "smollm"}, true
	case "llama-bpe", "llama3", "llama-v3":
		bl := byteLevel(prefixSpace, true, false)
		return preTokenizer{pre: sequence(split(regexLlama3), bl), byteLevel: bl,
			ignoreMerge: true, addBOS: true, cleanSpaces: true}, true
	case "qwen2", "deepseek-r1-qwen":
		bl := byteLevel(prefixSpace, false, false)
		return preTokenizer{normalizer: ordered{{"type", "NFC"}}, pre: sequence(split(regexQwen2), bl),
			byteLevel: bl}, true
	}
	return preTokenizer{}, false
}

var supportedPre = "gpt-2, mpt, olmo, smollm, starcoder, refact, codeshell, llama-bpe, llama3, llama-v3, qwen2, deepseek-r1-qwen"

// hfTokenizer is the tokenizer part of an HFModel.
type hfTokenizer struct {
	json, config []byte
	ids          map[string]int64 // "bos", "eos", "unk", "pad" when set
}

// buildTokenizer writes tokenizer.json and tokenizer_config.json for a
// byte-level BPE (tokenizer.ggml.model "gpt2") vocabulary.
func buildTokenizer(f *File, maxLen int64) (hfTokenizer, error) {
	var t hfTokenizer
	model, ok := f.Str("tokenizer.ggml.model")
	if !ok {
		return t, fmt.Errorf("gguf: no tokenizer.ggml.model string: the file carries no tokenizer")
	}
	if model != "gpt2" {
		return t, fmt.Errorf("gguf: tokenizer.ggml.model %q is not supported (only \"gpt2\", byte-level BPE)", model)
	}
	tokens, ok := f.Strs("tokenizer.ggml.tokens")
	if !ok || len(tokens) == 0 {
		return t, fmt.Errorf("gguf: tokenizer.ggml.tokens is missing or not a non-empty string array")
	}
	types := make([]int64, len(tokens))
	if kv, ok := f.Lookup("tokenizer.ggml.token_type"); ok {
		a, _ := kv.Value.(Array)
		v, ok := a.Values.([]int32)
		if !ok || len(v) != len(tokens) {
			return t, fmt.Errorf("gguf: tokenizer.ggml.token_type must be an int32 array of %d entries", len(tokens))
		}
		for i, x := range v {
			types[i] = int64(x)
		}
	} else {
		for i := range types {
			types[i] = tokenNormal
		}
	}
	rawMerges, ok := f.Strs("tokenizer.ggml.merges")
	if !ok {
		return t, fmt.Errorf("gguf: tokenizer.ggml.merges is missing or not a string array")
	}
	merges := make([][2]string, len(rawMerges))
	for i, m := range rawMerges {
		// As llama.cpp: split at the first space after the first byte.
		sp := -1
		if len(m) > 1 {
			sp = strings.IndexByte(m[1:], ' ')
		}
		if sp < 0 {
			return t, fmt.Errorf("gguf: tokenizer.ggml.merges[%d] = %q has no space", i, m)
		}
		merges[i] = [2]string{m[:sp+1], m[sp+2:]}
	}
	pre, ok := f.Str("tokenizer.ggml.pre")
	if !ok {
		return t, fmt.Errorf("gguf: no tokenizer.ggml.pre string: cannot tell which pre-tokenizer the model needs (supported: %s)", supportedPre)
	}
	prefixSpace, _ := f.Bool("tokenizer.ggml.add_space_prefix")
	spec, ok := preTokenizerFor(pre, prefixSpace)
	if !ok {
		return t, fmt.Errorf("gguf: tokenizer.ggml.pre %q is not supported (supported: %s)", pre, supportedPre)
	}

	vocab := make(ordered, len(tokens))
	index := make(map[string]int, len(tokens))
	for i, s := range tokens {
		if j, dup := index[s]; dup {
			return t, fmt.Errorf("gguf: tokenizer.ggml.tokens[%d] = %q duplicates token %d", i, s, j)
		}
		index[s] = i
		vocab[i] = member{s, i}
	}
	t.ids = make(map[string]int64)
	for _, k := range []struct{ name, key string }{{"bos", "bos_token_id"}, {"eos", "eos_token_id"},
		{"unk", "unknown_token_id"}, {"pad", "padding_token_id"}} {
		key := "tokenizer.ggml." + k.key
		if _, present := f.Lookup(key); !present {
			continue
		}
		id, ok := f.Uint(key)
		if !ok || id >= uint64(len(tokens)) {
			kv, _ := f.Lookup(key)
			return t, fmt.Errorf("gguf: %s = %v is not a token id (vocabulary of %d)", key, kv.Value, len(tokens))
		}
		t.ids[k.name] = int64(id)
	}
	addBOS, addEOS := spec.addBOS, false
	if v, ok := f.Bool("tokenizer.ggml.add_bos_token"); ok {
		addBOS = v
	}
	if v, ok := f.Bool("tokenizer.ggml.add_eos_token"); ok {
		addEOS = v
	}
	for _, c := range []struct {
		add  bool
		name string
	}{{addBOS, "bos"}, {addEOS, "eos"}} {
		if _, ok := t.ids[c.name]; c.add && !ok {
			return t, fmt.Errorf("gguf: tokenizer.ggml.add_%s_token is set but there is no %s_token_id", c.name, c.name)
		}
	}

	// Control tokens are special added tokens; user-defined ones are added
	// tokens that are not special (llama.cpp's converter makes them so).
	var added []any
	addedDecoder := map[string]any{}
	for i, typ := range types {
		if typ != tokenControl && typ != tokenUserDefined && typ != tokenUnknown {
			continue
		}
		special := typ != tokenUserDefined
		added = append(added, ordered{{"id", i}, {"content", tokens[i]}, {"single_word", false},
			{"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", special}})
		addedDecoder[strconv.Itoa(i)] = map[string]any{"content": tokens[i], "lstrip": false,
			"normalized": false, "rstrip": false, "single_word": false, "special": special}
	}
	if added == nil {
		added = []any{}
	}

	tokJSON := ordered{
		{"version", "1.0"},
		{"truncation", nil},
		{"padding", nil},
		{"added_tokens", added},
		{"normalizer", spec.normalizer},
		{"pre_tokenizer", spec.pre},
		{"post_processor", postProcessor(spec, tokens, t.ids, addBOS, addEOS)},
		{"decoder", spec.byteLevel},
		{"model", ordered{
			{"type", "BPE"}, {"dropout", nil}, {"unk_token", nil},
			{"continuing_subword_prefix", nil}, {"end_of_word_suffix", nil},
			{"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", spec.ignoreMerge},
			{"vocab", vocab}, {"merges", merges},
		}},
	}
	var err error
	if t.json, err = marshalIndent(tokJSON); err != nil {
		return t, err
	}

	cfg := map[string]any{
		"add_bos_token":                addBOS,
		"add_eos_token":                addEOS,
		"add_prefix_space":             prefixSpace,
		"added_tokens_decoder":         addedDecoder,
		"clean_up_tokenization_spaces": spec.cleanSpaces,
		"model_max_length":             maxLen,
		"tokenizer_class":              "PreTrainedTokenizerFast",
	}
	for name, id := range t.ids {
		cfg[name+"_token"] = tokens[id]
	}
	if tmpl, err := chatTemplate(f); err != nil {
		return t, err
	} else if tmpl != nil {
		cfg["chat_template"] = tmpl
	}
	if t.config, err = marshalIndent(cfg); err != nil {
		return t, err
	}
	return t, nil
}

// postProcessor adds BOS/EOS as llama.cpp would (TemplateProcessing, the
// way transformers' Llama tokenizers spell it), or is a plain ByteLevel.
func postProcessor(spec preTokenizer, tokens []string, ids map[string]int64, addBOS, addEOS bool) any {
	if !addBOS && !addEOS {
		return spec.byteLevel
	}
	specialTok := func(name string, typeID int) ordered {
		return ordered{{"SpecialToken", ordered{{"id", tokens[ids[name]]}, {"type_id", typeID}}}}
	}
	seq := func(id string, typeID int) ordered {
		return ordered{{"Sequence", ordered{{"id", id}, {"type_id", typeID}}}}
	}
	var single, pair []any
	specials := ordered{}
	for _, c := range []struct {
		on   bool
		name string
	}{{addBOS, "bos"}, {addEOS, "eos"}} {
		if c.on {
			tok := tokens[ids[c.name]]
			specials = append(specials, member{tok, ordered{{"id", tok}, {"ids", []int64{ids[c.name]}}, {"tokens", []string{tok}}}})
		}
	}
	for typeID, s := range []string{"A", "B"} {
		var part []any
		if addBOS {
			part = append(part, specialTok("bos", typeID))
		}
		part = append(part, seq(s, typeID))
		if addEOS {
			part = append(part, specialTok("eos", typeID))
		}
		if typeID == 0 {
			single = part
		}
		pair = append(pair, part...)
	}
	return ordered{{"type", "TemplateProcessing"}, {"single", single}, {"pair", pair}, {"special_tokens", specials}}
}

// chatTemplate returns tokenizer.chat_template as a string, or, when named
// templates (tokenizer.chat_template.NAME) exist too, the list of
// {"name", "template"} objects transformers accepts. nil when there is none.
func chatTemplate(f *File) (any, error) {
	const key = "tokenizer.chat_template"
	var named []any
	var names []string
	byName := map[string]string{}
	for _, kv := range f.KV {
		if kv.Key != key && !strings.HasPrefix(kv.Key, key+".") {
			continue
		}
		s, ok := kv.Value.(string)
		if !ok {
			return nil, fmt.Errorf("gguf: %s is not a string", kv.Key)
		}
		name := "default"
		if kv.Key != key {
			name = strings.TrimPrefix(kv.Key, key+".")
		}
		byName[name] = s
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, nil
	}
	if len(names) == 1 && names[0] == "default" {
		return byName["default"], nil
	}
	sort.Strings(names)
	if i := slices.Index(names, "default"); i > 0 {
		names = append(append([]string{"default"}, names[:i]...), names[i+1:]...)
	}
	for _, n := range names {
		named = append(named, ordered{{"name", n}, {"template", byName[n]}})
	}
	return named, nil
}
