package tokenizer

// Added tokens: the vocabulary on top of the model, and cutting them out of
// the text (tokenizers' AddedVocabulary).

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A piece is a part of the input: an added token (id >= 0) or text for the
// rest of the pipeline (id < 0).
type piece struct {
	text string
	id   int
}

type addedPattern struct {
	content string
	id      int
}

// An addedMatcher finds added tokens leftmost first, longest first at a
// position, like an Aho-Corasick automaton with MatchKind::LeftmostLongest.
type addedMatcher struct {
	byFirst [256][]addedPattern // longest first; equal lengths in pattern order
	n       int
}

func newAddedMatcher(pats []addedPattern) *addedMatcher {
	m := &addedMatcher{}
	for _, p := range pats {
		if p.content == "" {
			continue
		}
		m.byFirst[p.content[0]] = append(m.byFirst[p.content[0]], p)
		m.n++
	}
	for _, ps := range m.byFirst {
		sort.SliceStable(ps, func(i, j int) bool { return len(ps[i].content) > len(ps[j].content) })
	}
	return m
}

// next returns the first match in s at or after from: start, end and the
// pattern's id; ok is false when there is none.
func (m *addedMatcher) next(s string, from int) (start, end, id int, ok bool) {
	for i := from; i < len(s); i++ {
		for _, p := range m.byFirst[s[i]] {
			if strings.HasPrefix(s[i:], p.content) {
				return i, i + len(p.content), p.id, true
			}
		}
	}
	return 0, 0, 0, false
}

// splitAdded cuts the added tokens of m out of s and appends the pieces to out.
// Empty text pieces are dropped.
func (t *Tokenizer) splitAdded(s string, m *addedMatcher, out []piece) []piece {
	if m == nil || m.n == 0 {
		if s != "" {
			out = append(out, piece{s, -1})
		}
		return out
	}
	startOffset := 0
	for from := 0; from < len(s); {
		start, stop, id, ok := m.next(s, from)
		if !ok {
			break
		}
		from = stop
		tok := t.added[id]
		if tok.SingleWord {
			startSpace := start == 0 || !endsWithWord(s[:start])
			stopSpace := stop == len(s) || !startsWithWord(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if tok.LStrip {
			start = max(len(strings.TrimRightFunc(s[:start], unicode.IsSpace)), startOffset)
		}
		if tok.RStrip {
			stop = len(s) - len(strings.TrimLeftFunc(s[stop:], unicode.IsSpace))
		}
		if startOffset < start {
			out = append(out, piece{s[startOffset:start], -1})
		}
		out = append(out, piece{s[start:stop], id})
		startOffset = stop
	}
	if startOffset < len(s) {
		out = append(out, piece{s[startOffset:], -1})
	}
	return out
}

// isWordChar reports whether r matches \w of Rust's regex crate:
// Alphabetic, Mark, Decimal_Number, Connector_Punctuation or Join_Control.
func isWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.Is(unicode.Nl, r) || unicode.Is(unicode.Other_Alphabetic, r) ||
		unicode.IsMark(r) || unicode.Is(unicode.Nd, r) || unicode.Is(unicode.Pc, r) ||
		unicode.Is(unicode.Join_Control, r)
}

func endsWithWord(s string) bool {
	r, n := utf8.DecodeLastRuneInString(s)
	return n > 0 && isWordChar(r)
}

func startsWithWord(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && isWordChar(r)
}
