package tokenizer

// The SentencePiece-style steps of tokenizer.json: the Metaspace
// pre-tokenizer and decoder, the Punctuation and WhitespaceSplit
// pre-tokenizers, and the Strip, Replace and Lowercase normalizers.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ---------------------------------------------------------------- normalizers

// stripNormalizer removes whitespace (Rust's char::is_whitespace, which is
// unicode.IsSpace) from the ends of the text.
type stripNormalizer struct {
	left, right bool
}

func (n stripNormalizer) normalize(s string) string {
	s, _ = n.normalizeZ(s, 0)
	return s
}

func (n stripNormalizer) normalizeZ(s string, z int) (string, int) {
	if n.left {
		t := strings.TrimLeftFunc(s, unicode.IsSpace)
		z -= len(s) - len(t)
		s = t
	}
	if n.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s, min(max(z, 0), len(s))
}

// replaceNormalizer replaces every match of a pattern (a literal string or a
// regular expression) with content.
type replaceNormalizer struct {
	pat     pattern
	content string
}

func (n *replaceNormalizer) normalize(s string) string {
	s, _ = n.normalizeZ(s, 0)
	return s
}

func (n *replaceNormalizer) normalizeZ(s string, z int) (string, int) {
	if s == "" {
		return s, 0
	}
	var b strings.Builder
	b.Grow(len(s))
	zr := zeroRun{}
	for _, x := range n.pat.spans(s, nil) {
		if !x.match {
			b.WriteString(s[x.start:x.end])
			k := min(max(z-x.start, 0), x.end-x.start)
			zr.add(k, true)
			zr.add(x.end-x.start-k, false)
			continue
		}
		// The library aligns the replacement with the last byte of the match.
		b.WriteString(n.content)
		zr.add(len(n.content), x.end-1 < z)
	}
	return b.String(), zr.n
}

// lowercaseNormalizer maps each character to its lowercase form, character by
// character as Rust's char::to_lowercase does (no context, so Σ is always σ;
// İ becomes "i̇", its one multi-character mapping).
type lowercaseNormalizer struct{}

func (lowercaseNormalizer) normalize(s string) string {
	s, _ = lowercaseNormalizer{}.normalizeZ(s, 0)
	return s
}

func (lowercaseNormalizer) normalizeZ(s string, z int) (string, int) {
	var b strings.Builder
	b.Grow(len(s))
	zr := zeroRun{}
	for i, r := range s {
		n := b.Len()
		if r == 'İ' {
			b.WriteString("i\u0307")
		} else {
			b.WriteRune(unicode.ToLower(r))
		}
		zr.add(b.Len()-n, i < z)
	}
	return b.String(), zr.n
}

// ------------------------------------------- offset 0, for prepend_scheme first

// Metaspace's prepend_scheme "first" prepends only to a word whose original
// offset is 0, where the library's NormalizedString alignments say so: the
// alignments of the normalizers are followed here as far as that needs, as
// z, the number of leading bytes of a string that come from offset 0 of the
// input (the rest come from later offsets).

// A zNormalizer normalises and carries z across.
type zNormalizer interface {
	normalizeZ(s string, z int) (string, int)
}

func (q sequenceNormalizer) normalizeZ(s string, z int) (string, int) {
	for _, n := range q {
		s, z = normalizeZ(n, s, z)
	}
	return s, z
}

// normalizeZ runs n; a normalizer that does not follow alignments (NFC, NFD)
// keeps the first character at offset 0 when it was.
func normalizeZ(n normalizer, s string, z int) (string, int) {
	if zn, ok := n.(zNormalizer); ok {
		return zn.normalizeZ(s, z)
	}
	s = n.normalize(s)
	if z > 0 {
		_, z = utf8.DecodeRuneInString(s)
	}
	return s, z
}

// zeroRun counts the leading output bytes that come from offset 0.
type zeroRun struct {
	n    int
	done bool
}

func (r *zeroRun) add(n int, zero bool) {
	if n == 0 {
		return
	}
	if zero && !r.done {
		r.n += n
	} else {
		r.done = true
	}
}

// hasPrependFirst reports whether p holds a Metaspace pre-tokenizer with
// prepend_scheme "first", the one step that needs z.
func hasPrependFirst(p preTokenizer) bool {
	switch p := p.(type) {
	case *metaspacePre:
		return p.scheme == prependFirst
	case sequencePre:
		for _, q := range p {
			if hasPrependFirst(q) {
				return true
			}
		}
	}
	return false
}

// normalizeAt normalises one piece of the input whose first z bytes come from
// offset 0, and returns the z of the result.
func (t *Tokenizer) normalizeAt(s string, z int) (string, int) {
	if t.normalizer == nil {
		return s, z
	}
	return normalizeZ(t.normalizer, s, z)
}

// preTokenizeAt runs the pre-tokenizer on one piece of normalised text whose
// first z bytes come from offset 0 of the input.
func (t *Tokenizer) preTokenizeAt(words []string, z int) []string {
	if zp, ok := t.pre.(zPreTokenizer); ok && hasPrependFirst(t.pre) {
		out, _ := zp.preTokenizeZ(words, []int{z})
		return out
	}
	return t.pre.preTokenize(words)
}

// A zPreTokenizer splits words and carries z across: zs[i] is the z of
// words[i].
type zPreTokenizer interface {
	preTokenizeZ(words []string, zs []int) ([]string, []int)
}

func (q sequencePre) preTokenizeZ(words []string, zs []int) ([]string, []int) {
	for _, p := range q {
		if zp, ok := p.(zPreTokenizer); ok {
			words, zs = zp.preTokenizeZ(words, zs)
			continue
		}
		// A split that keeps the start keeps the first word a prefix of the
		// first input word; only that word can stay at offset 0.
		in := ""
		if len(words) > 0 {
			in = words[0]
		}
		z := 0
		if len(zs) > 0 {
			z = zs[0]
		}
		words = p.preTokenize(words)
		zs = make([]int, len(words))
		if len(words) > 0 && strings.HasPrefix(in, words[0]) {
			zs[0] = min(z, len(words[0]))
		}
	}
	return words, zs
}

// ------------------------------------------------------------ pre-tokenizers

// prependScheme says where Metaspace puts a replacement character in front of
// a word that lacks one.
type prependScheme int

const (
	prependAlways prependScheme = iota // every word
	prependFirst                       // only a word at offset 0 of the input
	prependNever
)

var prependSchemes = map[string]prependScheme{"always": prependAlways, "first": prependFirst, "never": prependNever}

// metaspacePre is the Metaspace pre-tokenizer: spaces become the replacement
// character (▁), one is prepended by the scheme, and with split each word is
// cut before every replacement character.
type metaspacePre struct {
	replacement string
	scheme      prependScheme
	split       bool
}

func (p *metaspacePre) preTokenize(words []string) []string {
	out, _ := p.preTokenizeZ(words, nil)
	return out
}

func (p *metaspacePre) preTokenizeZ(words []string, zs []int) ([]string, []int) {
	out := words[:0:0]
	var sp []span
	lit := pattern{lit: p.replacement}
	for i, w := range words {
		w = strings.ReplaceAll(w, " ", p.replacement)
		first := i < len(zs) && zs[i] > 0
		if !strings.HasPrefix(w, p.replacement) && (p.scheme == prependAlways || p.scheme == prependFirst && first) {
			w = p.replacement + w
		}
		if !p.split {
			if w != "" {
				out = append(out, w)
			}
			continue
		}
		sp = lit.spans(w, sp[:0])
		out = splitWord(w, sp, mergedWithNext, out)
	}
	return out, make([]int, len(out)) // Metaspace ends the chain in practice
}

// charSplitPre splits words around the characters for which is reports true:
// Punctuation (each punctuation character a match) and WhitespaceSplit
// (whitespace removed).
type charSplitPre struct {
	is       func(rune) bool
	behavior splitBehavior
}

func (p *charSplitPre) preTokenize(words []string) []string {
	out, _ := p.preTokenizeZ(words, nil)
	return out
}

func (p *charSplitPre) preTokenizeZ(words []string, zs []int) ([]string, []int) {
	var out []string
	var outZ []int
	var sp []span
	for k, w := range words {
		sp = sp[:0]
		prev := 0
		for i := 0; i < len(w); {
			r, n := utf8.DecodeRuneInString(w[i:])
			if p.is(r) {
				if prev < i {
					sp = append(sp, span{prev, i, false})
				}
				sp = append(sp, span{i, i + n, true})
				prev = i + n
			}
			i += n
		}
		if prev < len(w) {
			sp = append(sp, span{prev, len(w), false})
		}
		n := len(out)
		out = splitWord(w, sp, p.behavior, out)
		// Each new word is a substring of w; find where it starts.
		z, pos := 0, 0
		if k < len(zs) {
			z = zs[k]
		}
		for _, o := range out[n:] {
			pos += strings.Index(w[pos:], o)
			outZ = append(outZ, max(0, min(z-pos, len(o))))
			pos += len(o)
		}
	}
	return out, outZ
}

// isPunctuation is the Punctuation pre-tokenizer's test: ASCII punctuation
// (which includes symbols such as $ + < = > ^ ` | ~) or a character of a
// Unicode punctuation category, by the tables of the unicode_categories crate
// the library uses, which are of Unicode 9.0: the punctuation that Unicode
// added later (up to 15.0, the version of Go's tables) does not count.
func isPunctuation(r rune) bool {
	if r < 0x80 {
		return r > ' ' && r < 0x7F && !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}
	if !unicode.IsPunct(r) {
		return false
	}
	i := sort.Search(len(punctAfter9), func(i int) bool { return punctAfter9[i][1] >= r })
	return i == len(punctAfter9) || punctAfter9[i][0] > r
}

// punctAfter9 lists, as sorted ranges, the punctuation characters of Unicode
// 10.0 to 15.0 (Perl's \p{P} without \p{In=9.0}, and Unicode 15.0's Kawi and
// Devanagari Extended-A).
var punctAfter9 = [][2]rune{
	{0x061D, 0x061D}, {0x09FD, 0x09FD}, {0x0A76, 0x0A76}, {0x0C77, 0x0C77}, {0x0C84, 0x0C84},
	{0x1B7D, 0x1B7E}, {0x2E45, 0x2E4F}, {0x2E52, 0x2E5D}, {0x10EAD, 0x10EAD}, {0x10F55, 0x10F59},
	{0x10F86, 0x10F89}, {0x1145A, 0x1145A}, {0x116B9, 0x116B9}, {0x1183B, 0x1183B},
	{0x11944, 0x11946}, {0x119E2, 0x119E2}, {0x11A3F, 0x11A46}, {0x11A9A, 0x11A9C},
	{0x11A9E, 0x11AA2}, {0x11B00, 0x11B09}, {0x11EF7, 0x11EF8}, {0x11F43, 0x11F4F},
	{0x11FFF, 0x11FFF}, {0x12FF1, 0x12FF2}, {0x16E97, 0x16E9A}, {0x16FE2, 0x16FE2},
}

// ------------------------------------------------------------------- decoder

// metaspaceDecoder turns replacement characters back into spaces; in the
// first token they are dropped unless the prepend scheme is never.
type metaspaceDecoder struct {
	replacement string
	scheme      prependScheme
}

func (d metaspaceDecoder) decodeChain(toks []string) []string {
	for i, t := range toks {
		repl := " "
		if i == 0 && d.scheme != prependNever {
			repl = ""
		}
		toks[i] = strings.ReplaceAll(t, d.replacement, repl)
	}
	return toks
}

// ------------------------------------------------------------- tokenizer.json

func parseSPMNormalizer(typ string, raw json.RawMessage) (normalizer, error) {
	var c struct {
		PrecompiledCharsmap *string         `json:"precompiled_charsmap"`
		StripLeft           *bool           `json:"strip_left"`
		StripRight          *bool           `json:"strip_right"`
		Pattern             json.RawMessage `json:"pattern"`
		Content             *string         `json:"content"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("normalizer: %s: %w", typ, err)
	}
	switch typ {
	case "Precompiled":
		if c.PrecompiledCharsmap == nil {
			return nil, errors.New("normalizer: Precompiled: no precompiled_charsmap")
		}
		b, err := base64.StdEncoding.DecodeString(*c.PrecompiledCharsmap)
		if err != nil {
			return nil, fmt.Errorf("normalizer: Precompiled: %w", err)
		}
		m, err := parseCharsmap(b)
		if err != nil {
			return nil, fmt.Errorf("normalizer: Precompiled: %w", err)
		}
		return precompiledNormalizer{m}, nil
	case "Strip":
		// The library's defaults: both sides.
		n := stripNormalizer{left: true, right: true}
		if c.StripLeft != nil {
			n.left = *c.StripLeft
		}
		if c.StripRight != nil {
			n.right = *c.StripRight
		}
		return n, nil
	case "Replace":
		if c.Content == nil {
			return nil, errors.New("normalizer: Replace: no content")
		}
		pat, err := parsePattern(c.Pattern)
		if err != nil {
			return nil, fmt.Errorf("normalizer: Replace: %w", err)
		}
		return &replaceNormalizer{pat: pat, content: *c.Content}, nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	}
	return nil, &UnsupportedError{"normalizer", typ}
}

// metaspaceConfig holds the fields of the Metaspace pre-tokenizer and decoder.
type metaspaceConfig struct {
	Replacement    *string `json:"replacement"`
	PrependScheme  *string `json:"prepend_scheme"`
	AddPrefixSpace *bool   `json:"add_prefix_space"` // before prepend_scheme existed
	Split          *bool   `json:"split"`
}

// parse returns the replacement, the scheme and split, with the library's
// defaults (▁, always, true).
func (c *metaspaceConfig) parse(what string) (string, prependScheme, bool, error) {
	repl := "▁"
	if c.Replacement != nil {
		repl = *c.Replacement
		if utf8.RuneCountInString(repl) != 1 {
			return "", 0, false, fmt.Errorf("%s: Metaspace: replacement %q is not one character", what, repl)
		}
	}
	scheme := prependAlways
	switch {
	case c.PrependScheme != nil:
		s, ok := prependSchemes[*c.PrependScheme]
		if !ok {
			return "", 0, false, fmt.Errorf("%s: Metaspace: unknown prepend_scheme %q", what, *c.PrependScheme)
		}
		scheme = s
	case c.AddPrefixSpace != nil && !*c.AddPrefixSpace:
		scheme = prependNever
	}
	split := c.Split == nil || *c.Split
	return repl, scheme, split, nil
}

func parseSPMPreTokenizer(typ string, raw json.RawMessage) (preTokenizer, error) {
	var c struct {
		metaspaceConfig
		Behavior *string `json:"behavior"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %s: %w", typ, err)
	}
	switch typ {
	case "Metaspace":
		repl, scheme, split, err := c.parse("pre_tokenizer")
		if err != nil {
			return nil, err
		}
		return &metaspacePre{replacement: repl, scheme: scheme, split: split}, nil
	case "WhitespaceSplit":
		return &charSplitPre{is: unicode.IsSpace, behavior: removed}, nil
	case "Punctuation":
		b := isolated
		if c.Behavior != nil {
			var ok bool
			if b, ok = splitBehaviors[*c.Behavior]; !ok {
				return nil, fmt.Errorf("pre_tokenizer: Punctuation: unknown behavior %q", *c.Behavior)
			}
		}
		return &charSplitPre{is: isPunctuation, behavior: b}, nil
	}
	return nil, &UnsupportedError{"pre_tokenizer", typ}
}

func parseMetaspaceDecoder(raw json.RawMessage) (decoder, error) {
	var c metaspaceConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("decoder: Metaspace: %w", err)
	}
	repl, scheme, _, err := c.parse("decoder")
	if err != nil {
		return nil, err
	}
	return metaspaceDecoder{replacement: repl, scheme: scheme}, nil
}
