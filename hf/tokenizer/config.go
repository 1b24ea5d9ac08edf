package tokenizer

// Reading tokenizer.json into the pipeline.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

type fileConfig struct {
	Version       *string         `json:"version"`
	AddedTokens   []addedConfig   `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

type addedConfig struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// typed is the "type" field every component carries.
type typed struct {
	Type string `json:"type"`
}

func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func parseFile(data []byte) (*Tokenizer, error) {
	var c fileConfig
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	if c.Version != nil && *c.Version != "1.0" {
		return nil, fmt.Errorf("unknown tokenizer.json version %q", *c.Version)
	}
	if isNull(c.Model) {
		return nil, errors.New("no model")
	}
	t := &Tokenizer{}
	var err error
	if t.model, err = parseModel(c.Model); err != nil {
		return nil, err
	}
	if !isNull(c.Normalizer) {
		if t.normalizer, err = parseNormalizer(c.Normalizer); err != nil {
			return nil, err
		}
	}
	if !isNull(c.PreTokenizer) {
		if t.pre, err = parsePreTokenizer(c.PreTokenizer); err != nil {
			return nil, err
		}
	}
	if !isNull(c.Decoder) {
		if t.decoder, err = parseDecoder(c.Decoder); err != nil {
			return nil, err
		}
	}
	if err := t.addTokens(c.AddedTokens); err != nil {
		return nil, err
	}
	if !isNull(c.PostProcessor) {
		if t.post, err = t.parsePostProcessor(c.PostProcessor); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// addTokens registers the added tokens as the library's deserializer does:
// in file order, each taking the id its content already has (model or added
// vocabulary), otherwise the next free id after the vocabulary. The ids in the
// file are not used, as in the library, which only warns when they differ.
func (t *Tokenizer) addTokens(list []addedConfig) error {
	t.added = make(map[int]AddedToken)
	t.addedIDs = make(map[string]int)
	t.special = make(map[string]bool)
	var specials, classics []AddedToken // in order, as the library keeps them
	vocabSize := t.model.size()
	maxAdded := -1
	for _, a := range list {
		tok := AddedToken{Content: a.Content, Special: a.Special, SingleWord: a.SingleWord,
			LStrip: a.LStrip, RStrip: a.RStrip, Normalized: a.Normalized}
		if a.Special && a.Content != "" && !t.special[a.Content] {
			t.special[a.Content] = true
			specials = append(specials, tok)
		}
		if a.Content == "" || t.hasAdded(tok) {
			continue
		}
		id, ok := t.TokenToID(a.Content)
		if !ok {
			switch {
			case maxAdded < 0:
				id = vocabSize
			case maxAdded >= vocabSize || vocabSize == 0:
				id = maxAdded + 1
			default:
				id = vocabSize
			}
		}
		if id >= maxVocabID {
			return fmt.Errorf("added token %q: id %d out of range", a.Content, id)
		}
		tok.ID = id
		t.addedIDs[a.Content] = id
		maxAdded = max(maxAdded, id)
		t.added[id] = tok
		if !t.special[a.Content] {
			classics = append(classics, tok)
		}
	}
	var raw, norm []addedPattern
	for _, tok := range append(specials, classics...) {
		content := tok.Content
		id, ok := t.TokenToID(content)
		if !ok {
			continue
		}
		if !tok.Normalized {
			raw = append(raw, addedPattern{content, id})
			continue
		}
		if t.normalizer != nil {
			content = t.normalizer.normalize(content)
		}
		norm = append(norm, addedPattern{content, id})
	}
	t.rawAdded = newAddedMatcher(raw)
	t.normAdded = newAddedMatcher(norm)

	t.distinctLen = t.model.distinct()
	for content := range t.addedIDs {
		if _, ok := t.model.tokenToID(content); !ok {
			t.distinctLen++
		}
	}
	return nil
}

// hasAdded reports whether an identical added token is registered.
func (t *Tokenizer) hasAdded(tok AddedToken) bool {
	for _, a := range t.added {
		a.ID = 0
		if a == tok {
			return true
		}
	}
	return false
}

func parseModel(raw json.RawMessage) (model, error) {
	var ty typed
	if err := json.Unmarshal(raw, &ty); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	var c bpeConfig
	if ty.Type == "" {
		// The library infers an untagged model from its fields; only BPE has merges.
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		if _, ok := probe["merges"]; !ok {
			if isUnigramConfig(probe) {
				return parseUnigram(raw)
			}
			return nil, &UnsupportedError{"model", "(untagged, without merges)"}
		}
	} else if ty.Type == "Unigram" {
		return parseUnigram(raw)
	} else if ty.Type != "BPE" {
		return nil, &UnsupportedError{"model", ty.Type}
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return newBPE(&c)
}

func parseNormalizer(raw json.RawMessage) (normalizer, error) {
	var c struct {
		Type        string            `json:"type"`
		Normalizers []json.RawMessage `json:"normalizers"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	switch c.Type {
	case "NFC":
		return nfcNormalizer{}, nil
	case "NFD":
		return nfdNormalizer{}, nil
	case "Precompiled", "Strip", "Replace", "Lowercase":
		return parseSPMNormalizer(c.Type, raw)
	case "Sequence":
		var q sequenceNormalizer
		for _, r := range c.Normalizers {
			n, err := parseNormalizer(r)
			if err != nil {
				return nil, err
			}
			q = append(q, n)
		}
		return q, nil
	}
	return nil, &UnsupportedError{"normalizer", c.Type}
}

func parsePreTokenizer(raw json.RawMessage) (preTokenizer, error) {
	var c struct {
		Type           string            `json:"type"`
		PreTokenizers  []json.RawMessage `json:"pretokenizers"`
		AddPrefixSpace *bool             `json:"add_prefix_space"`
		UseRegex       *bool             `json:"use_regex"`
		Pattern        json.RawMessage   `json:"pattern"`
		Behavior       string            `json:"behavior"`
		Invert         bool              `json:"invert"`
		Individual     bool              `json:"individual_digits"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	switch c.Type {
	case "Sequence":
		var q sequencePre
		for _, r := range c.PreTokenizers {
			p, err := parsePreTokenizer(r)
			if err != nil {
				return nil, err
			}
			q = append(q, p)
		}
		return q, nil
	case "ByteLevel":
		// The library's defaults: add_prefix_space and use_regex true.
		p := &byteLevelPre{addPrefixSpace: true, useRegex: true}
		if c.AddPrefixSpace != nil {
			p.addPrefixSpace = *c.AddPrefixSpace
		}
		if c.UseRegex != nil {
			p.useRegex = *c.UseRegex
		}
		return p, nil
	case "Split":
		b, ok := splitBehaviors[c.Behavior]
		if !ok {
			return nil, fmt.Errorf("pre_tokenizer: Split: unknown behavior %q", c.Behavior)
		}
		pat, err := parsePattern(c.Pattern)
		if err != nil {
			return nil, fmt.Errorf("pre_tokenizer: Split: %w", err)
		}
		return &splitPre{pat: pat, behavior: b, invert: c.Invert}, nil
	case "Metaspace", "WhitespaceSplit", "Punctuation":
		return parseSPMPreTokenizer(c.Type, raw)
	case "Digits":
		// The library splits on char::is_numeric (categories Nd, Nl, No):
		// each digit alone, or runs of digits together.
		re, err := compileRegex(`\p{N}`)
		if err != nil {
			return nil, err
		}
		b := contiguous
		if c.Individual {
			b = isolated
		}
		return &splitPre{pat: pattern{re: re}, behavior: b}, nil
	}
	return nil, &UnsupportedError{"pre_tokenizer", c.Type}
}

// parsePattern reads {"Regex": "..."} or {"String": "..."}.
func parsePattern(raw json.RawMessage) (pattern, error) {
	var c struct {
		Regex  *string
		String *string
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return pattern{}, fmt.Errorf("pattern: %w", err)
	}
	switch {
	case c.Regex != nil:
		re, err := compileRegex(*c.Regex)
		if err != nil {
			return pattern{}, fmt.Errorf("pattern %q: %w", *c.Regex, err)
		}
		return pattern{re: re}, nil
	case c.String != nil:
		return pattern{lit: *c.String}, nil
	}
	return pattern{}, fmt.Errorf("pattern %s: want Regex or String", raw)
}

func parseDecoder(raw json.RawMessage) (decoder, error) {
	var c struct {
		Type     string            `json:"type"`
		Decoders []json.RawMessage `json:"decoders"`
		Pattern  json.RawMessage   `json:"pattern"`
		Content  string            `json:"content"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	switch c.Type {
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Metaspace":
		return parseMetaspaceDecoder(raw)
	case "Replace":
		var p struct{ String *string }
		if err := json.Unmarshal(c.Pattern, &p); err != nil || p.String == nil || *p.String == "" {
			return nil, fmt.Errorf("decoder: Replace: only a non-empty String pattern is supported, got %s", c.Pattern)
		}
		return replaceDecoder{old: *p.String, new: c.Content}, nil
	case "Sequence":
		var q sequenceDecoder
		for _, r := range c.Decoders {
			d, err := parseDecoder(r)
			if err != nil {
				return nil, err
			}
			q = append(q, d)
		}
		return q, nil
	}
	return nil, &UnsupportedError{"decoder", c.Type}
}

func (t *Tokenizer) parsePostProcessor(raw json.RawMessage) (postProcessor, error) {
	var c struct {
		Type          string            `json:"type"`
		Processors    []json.RawMessage `json:"processors"`
		Single        []json.RawMessage `json:"single"`
		SpecialTokens map[string]struct {
			IDs []int `json:"ids"`
		} `json:"special_tokens"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("post_processor: %w", err)
	}
	switch c.Type {
	case "ByteLevel":
		return noPost{}, nil
	case "Sequence":
		var q sequencePost
		for _, r := range c.Processors {
			p, err := t.parsePostProcessor(r)
			if err != nil {
				return nil, err
			}
			q = append(q, p)
		}
		return q, nil
	case "TemplateProcessing":
		p := &templatePost{}
		seen := false
		for _, item := range c.Single {
			var it struct {
				SpecialToken *struct{ ID string } `json:"SpecialToken"`
				Sequence     *struct{ ID string } `json:"Sequence"`
			}
			if err := json.Unmarshal(item, &it); err != nil {
				return nil, fmt.Errorf("post_processor: TemplateProcessing: %w", err)
			}
			switch {
			case it.Sequence != nil:
				if seen {
					return nil, errors.New("post_processor: TemplateProcessing: more than one sequence in the single template")
				}
				seen = true
			case it.SpecialToken != nil:
				st, ok := c.SpecialTokens[it.SpecialToken.ID]
				if !ok {
					return nil, fmt.Errorf("post_processor: TemplateProcessing: special token %q missing from special_tokens", it.SpecialToken.ID)
				}
				if seen {
					p.after = append(p.after, st.IDs...)
				} else {
					p.before = append(p.before, st.IDs...)
				}
			default:
				return nil, fmt.Errorf("post_processor: TemplateProcessing: unknown template item %s", item)
			}
		}
		if !seen {
			return nil, errors.New("post_processor: TemplateProcessing: the single template has no sequence")
		}
		return p, nil
	}
	return nil, &UnsupportedError{"post_processor", c.Type}
}
