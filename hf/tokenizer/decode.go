package tokenizer

// Decoders (token strings to text) and post-processors (special tokens around
// an encoded sequence).

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// ------------------------------------------------------------------ decoders

// A decoder rewrites a list of token strings (tokenizers' decode_chain); the
// text is the concatenation of the result.
type decoder interface {
	decodeChain(toks []string) []string
}

type sequenceDecoder []decoder

func (q sequenceDecoder) decodeChain(toks []string) []string {
	for _, d := range q {
		toks = d.decodeChain(toks)
	}
	return toks
}

// byteLevelDecoder maps byte characters back to bytes. A token holding a
// character that is not a byte character contributes its UTF-8 as it is. The
// bytes become one string, invalid UTF-8 replaced.
type byteLevelDecoder struct{}

func (byteLevelDecoder) decodeChain(toks []string) []string {
	var buf []byte
	for _, t := range toks {
		n := len(buf)
		for _, r := range t {
			if r >= rune(len(charToByte)) || charToByte[r] < 0 {
				buf = append(buf[:n], t...)
				break
			}
			buf = append(buf, byte(charToByte[r]))
		}
	}
	return []string{lossyUTF8(buf)}
}

// byteFallbackDecoder turns runs of <0xAB> tokens into the text of their
// bytes, or one U+FFFD per byte when the run is not valid UTF-8.
type byteFallbackDecoder struct{}

func (byteFallbackDecoder) decodeChain(toks []string) []string {
	out := make([]string, 0, len(toks))
	var run []byte
	flush := func() {
		if len(run) == 0 {
			return
		}
		if utf8.Valid(run) {
			out = append(out, string(run))
		} else {
			for range run {
				out = append(out, "\uFFFD")
			}
		}
		run = run[:0]
	}
	for _, t := range toks {
		if len(t) == 6 && strings.HasPrefix(t, "<0x") && t[5] == '>' {
			if b, err := strconv.ParseUint(t[3:5], 16, 8); err == nil {
				run = append(run, byte(b))
				continue
			}
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// fuseDecoder joins all tokens into one.
type fuseDecoder struct{}

func (fuseDecoder) decodeChain(toks []string) []string {
	return []string{strings.Join(toks, "")}
}

// replaceDecoder replaces a literal string in every token.
type replaceDecoder struct {
	old, new string
}

func (d replaceDecoder) decodeChain(toks []string) []string {
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(t, d.old, d.new)
	}
	return toks
}

// lossyUTF8 converts b to a string as Rust's String::from_utf8_lossy does:
// each maximal ill-formed subsequence (a truncated sequence, or one invalid
// byte) becomes one U+FFFD.
func lossyUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || n > 1 {
			sb.Write(b[i : i+n])
			i += n
			continue
		}
		sb.WriteRune(utf8.RuneError)
		i += maximalSubpart(b[i:])
	}
	return sb.String()
}

// maximalSubpart returns the length of the ill-formed sequence at the start of
// b: the longest prefix of a well-formed sequence, at least one byte.
func maximalSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF) // range of the second byte
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c == 0xED:
		need, hi = 2, 0x9F
	case c >= 0xE1 && c <= 0xEF:
		need = 2
	case c == 0xF0:
		need, lo = 3, 0x90
	case c == 0xF4:
		need, hi = 3, 0x8F
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	default:
		return 1
	}
	n := 1
	for k := 1; k <= need && k < len(b); k++ {
		if k == 1 && (b[k] < lo || b[k] > hi) || k > 1 && (b[k] < 0x80 || b[k] > 0xBF) {
			break
		}
		n++
	}
	return n
}

// ----------------------------------------------------------- post-processors

// A postProcessor adds special tokens around the ids of one sequence.
type postProcessor interface {
	process(ids []int) []int
}

type sequencePost []postProcessor

func (q sequencePost) process(ids []int) []int {
	for _, p := range q {
		ids = p.process(ids)
	}
	return ids
}

// noPost is the ByteLevel post-processor: it changes offsets only.
type noPost struct{}

func (noPost) process(ids []int) []int { return ids }

// templatePost is TemplateProcessing's single-sequence template: before and
// after hold the special token ids around the sequence.
type templatePost struct {
	before, after []int
}

func (p *templatePost) process(ids []int) []int {
	out := make([]int, 0, len(p.before)+len(ids)+len(p.after))
	out = append(out, p.before...)
	out = append(out, ids...)
	return append(out, p.after...)
}
