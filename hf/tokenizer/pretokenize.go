package tokenizer

// Normalizers and pre-tokenizers: string to string(s) steps before the model.

import (
	"strings"

	"github.com/dlclark/regexp2/v2"
)

// ---------------------------------------------------------------- normalizers

type normalizer interface {
	normalize(s string) string
}

type nfcNormalizer struct{}

func (nfcNormalizer) normalize(s string) string { return nfc(s) }

type nfdNormalizer struct{}

func (nfdNormalizer) normalize(s string) string { return nfd(s) }

type sequenceNormalizer []normalizer

func (q sequenceNormalizer) normalize(s string) string {
	for _, n := range q {
		s = n.normalize(s)
	}
	return s
}

// ------------------------------------------------------------ pre-tokenizers

// A preTokenizer splits each word of its input into smaller words (or
// rewrites them) and returns the non-empty results in order. It may reuse the
// input slice.
type preTokenizer interface {
	preTokenize(words []string) []string
}

type sequencePre []preTokenizer

func (q sequencePre) preTokenize(words []string) []string {
	for _, p := range q {
		words = p.preTokenize(words)
	}
	return words
}

// splitBehavior says what happens to the matches of a Split pattern.
type splitBehavior int

const (
	removed            splitBehavior = iota // matches are dropped
	isolated                                // matches are words of their own
	mergedWithPrevious                      // a match joins the word before it
	mergedWithNext                          // a match joins the word after it
	contiguous                              // consecutive matches form one word
)

var splitBehaviors = map[string]splitBehavior{
	"Removed": removed, "Isolated": isolated, "MergedWithPrevious": mergedWithPrevious,
	"MergedWithNext": mergedWithNext, "Contiguous": contiguous,
}

// A pattern finds non-overlapping matches: a regular expression, or a literal
// string when re is nil.
type pattern struct {
	re  *regexp2.Regexp
	lit string
}

func compileRegex(expr string) (*regexp2.Regexp, error) {
	return regexp2.Compile(expr, regexp2.None, regexp2.OptionMaxBacktrackingStackSize(-1))
}

// span is a part of a string: [start, end) and whether a pattern matched it.
type span struct {
	start, end int
	match      bool
}

// spans covers s with the matches of p and the gaps between them
// (tokenizers' Pattern::find_matches).
func (p *pattern) spans(s string, out []span) []span {
	if s == "" {
		return append(out, span{0, 0, false})
	}
	prev := 0
	add := func(a, b int) {
		if prev != a {
			out = append(out, span{prev, a, false})
		}
		out = append(out, span{a, b, true})
		prev = b
	}
	if p.re != nil {
		// Without a timeout and with an unbounded backtracking stack the
		// matcher reports no error.
		locs, _ := p.re.FindAllStringIndex(s, -1)
		for _, l := range locs {
			add(l[0], l[1])
		}
	} else if p.lit != "" {
		for i := 0; i <= len(s); {
			j := strings.Index(s[i:], p.lit)
			if j < 0 {
				break
			}
			add(i+j, i+j+len(p.lit))
			i += j + len(p.lit)
		}
	}
	if prev != len(s) {
		out = append(out, span{prev, len(s), false})
	}
	return out
}

// splitPre is the Split pre-tokenizer.
type splitPre struct {
	pat      pattern
	behavior splitBehavior
	invert   bool
}

func (p *splitPre) preTokenize(words []string) []string {
	var out []string
	var sp []span
	for _, w := range words {
		sp = p.pat.spans(w, sp[:0])
		if p.invert {
			for i := range sp {
				sp[i].match = !sp[i].match
			}
		}
		out = splitWord(w, sp, p.behavior, out)
	}
	return out
}

// splitWord applies a split behaviour to the spans of w (tokenizers'
// NormalizedString::split) and appends the non-empty parts to out.
func splitWord(w string, sp []span, b splitBehavior, out []string) []string {
	emit := func(s span) {
		if s.end > s.start {
			out = append(out, w[s.start:s.end])
		}
	}
	switch b {
	case isolated:
		for _, s := range sp {
			emit(s)
		}
	case removed:
		for _, s := range sp {
			if !s.match {
				emit(s)
			}
		}
	case contiguous, mergedWithPrevious:
		var acc []span
		prevMatch := false
		for _, s := range sp {
			join := s.match == prevMatch
			if b == mergedWithPrevious {
				join = s.match && !prevMatch
			}
			if join && len(acc) > 0 {
				acc[len(acc)-1].end = s.end
			} else {
				acc = append(acc, s)
			}
			prevMatch = s.match
		}
		for _, s := range acc {
			emit(s)
		}
	case mergedWithNext:
		var acc []span // built from the end
		prevMatch := false
		for i := len(sp) - 1; i >= 0; i-- {
			s := sp[i]
			if s.match && !prevMatch && len(acc) > 0 {
				acc[len(acc)-1].start = s.start
			} else {
				acc = append(acc, s)
			}
			prevMatch = s.match
		}
		for i := len(acc) - 1; i >= 0; i-- {
			emit(acc[i])
		}
	}
	return out
}

// gpt2Pattern is the ByteLevel pre-tokenizer's regular expression.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

var gpt2Regex = regexp2.MustCompile(gpt2Pattern, regexp2.None, regexp2.OptionMaxBacktrackingStackSize(-1))

// byteLevelPre is the ByteLevel pre-tokenizer: optionally a space before each
// word and a GPT-2 split, then every byte written as its printable character.
type byteLevelPre struct {
	addPrefixSpace bool
	useRegex       bool
}

func (p *byteLevelPre) preTokenize(words []string) []string {
	out := words[:0:0]
	var sp []span
	gpt2 := pattern{re: gpt2Regex}
	for _, w := range words {
		if p.addPrefixSpace && !strings.HasPrefix(w, " ") {
			w = " " + w
		}
		if !p.useRegex {
			out = append(out, w)
			continue
		}
		sp = gpt2.spans(w, sp[:0])
		out = splitWord(w, sp, isolated, out)
	}
	for i, w := range out {
		out[i] = byteLevelEncode(w)
	}
	return out
}

// byteToChar maps each byte to the printable character that stands for it in
// byte-level vocabularies (GPT-2's bytes_to_unicode); charToByte inverts it
// (-1: not a byte character).
var (
	byteToChar [256]rune
	charToByte [0x144]int16
)

func init() {
	for i := range charToByte {
		charToByte[i] = -1
	}
	n := rune(0)
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE {
			byteToChar[b] = rune(b)
		} else {
			byteToChar[b] = 0x100 + n
			n++
		}
		charToByte[byteToChar[b]] = int16(b)
	}
}

func byteLevelEncode(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteToChar[s[i]])
	}
	return b.String()
}
