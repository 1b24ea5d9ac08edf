package tokenizer

// The Precompiled normalizer: SentencePiece's precompiled_charsmap, a
// darts-clone double-array trie from UTF-8 strings to replacement strings
// (the compiled form of rules such as nmt_nfkc), read as the spm_precompiled
// crate reads it.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// A charsmap is a parsed precompiled_charsmap:
//
//	uint32 (little-endian) trie size in bytes | trie units (uint32 each) | replacements
//
// The values of the trie are offsets into the replacement blob, where each
// replacement ends at a NUL byte.
type charsmap struct {
	units      []uint32
	normalized string
}

func parseCharsmap(b []byte) (*charsmap, error) {
	if len(b) < 4 {
		return nil, errors.New("precompiled_charsmap: shorter than its 4-byte header")
	}
	size := binary.LittleEndian.Uint32(b)
	n := int(size / 4)
	if n == 0 || uint64(n)*4 > uint64(len(b)-4) {
		return nil, fmt.Errorf("precompiled_charsmap: trie of %d bytes in a blob of %d", size, len(b))
	}
	m := &charsmap{units: make([]uint32, n)}
	for i := range m.units {
		m.units[i] = binary.LittleEndian.Uint32(b[4+4*i:])
	}
	rest := b[4+4*n:]
	if !utf8.Valid(rest) {
		return nil, errors.New("precompiled_charsmap: replacements are not valid UTF-8")
	}
	m.normalized = string(rest)
	return m, nil
}

// Double-array units (darts-clone's DoubleArrayUnit).
func unitHasLeaf(u uint32) bool  { return u>>8&1 == 1 }
func unitValue(u uint32) uint32  { return u & (1<<31 - 1) }
func unitLabel(u uint32) uint32  { return u & (1<<31 | 0xFF) }
func unitOffset(u uint32) uint32 { return u >> 10 << (u & (1 << 9) >> 6) }

// prefixes calls f with the length of each key of the trie that is a prefix of
// s and its value, shortest first, until f returns false. Like
// spm_precompiled, it stops at a NUL byte; a unit outside the array ends the
// search (where the crate would panic).
func (m *charsmap) prefixes(s string, f func(n int, value uint32) bool) {
	pos := unitOffset(m.units[0])
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 {
			return
		}
		pos ^= uint32(c)
		if int(pos) >= len(m.units) {
			return
		}
		u := m.units[pos]
		if unitLabel(u) != uint32(c) {
			return
		}
		pos ^= unitOffset(u)
		if unitHasLeaf(u) {
			if int(pos) >= len(m.units) {
				return
			}
			if !f(i+1, unitValue(m.units[pos])) {
				return
			}
		}
	}
}

// replacement returns the string at offset v of the blob, up to its NUL; ok is
// false for an offset outside the blob or inside a character.
func (m *charsmap) replacement(v uint32) (string, bool) {
	if int64(v) > int64(len(m.normalized)) {
		return "", false
	}
	s := m.normalized[v:]
	if s != "" && !utf8.RuneStart(s[0]) {
		return "", false
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return s, true
}

// transform is spm_precompiled's Precompiled::transform: the replacement of
// the SHORTEST key that is a prefix of chunk.
func (m *charsmap) transform(chunk string) (string, bool) {
	var out string
	var ok bool
	m.prefixes(chunk, func(_ int, v uint32) bool {
		out, ok = m.replacement(v)
		return false
	})
	return out, ok
}

// longest is the match SentencePiece's normalizer uses: the length and
// replacement of the LONGEST key that is a prefix of s (n is 0 when none is).
func (m *charsmap) longest(s string) (n int, out string) {
	m.prefixes(s, func(k int, v uint32) bool {
		if r, ok := m.replacement(v); ok {
			n, out = k, r
		}
		return true
	})
	return n, out
}

// precompiledNormalizer is tokenizers' Precompiled normalizer. It walks the
// text by extended grapheme cluster: a cluster shorter than 6 bytes that
// starts with a key of the map is replaced as a whole by that key's
// replacement (so "Ａ\u0301" becomes "A"); otherwise each character is
// replaced by its own entry, or kept.
type precompiledNormalizer struct {
	m *charsmap
}

func (p precompiledNormalizer) normalize(s string) string {
	s, _ = p.normalizeZ(s, 0)
	return s
}

// normalizeZ also follows the library's alignments (for z, see zNormalizer).
// The library writes a replacement of old by new as the characters of new
// with change 0, then marks the last len(new)-len(old) of them inserted
// (change 1), or adds len(new)-len(old) to the change of the last character
// written so far when new is shorter; NormalizedString::transform then lines
// the characters up with the input: one with change ≤ 0 takes the alignment
// of the next input character and consumes it and -change more, one with
// change 1 the alignment of the byte before.
func (p precompiledNormalizer) normalizeZ(s string, z int) (string, int) {
	type tr struct {
		n      int // bytes
		change int
	}
	var trs []tr // only when z matters
	var b strings.Builder
	b.Grow(len(s))
	modified := false
	replace := func(old, repl string) {
		modified = true
		b.WriteString(repl)
		if z == 0 {
			return
		}
		for _, r := range repl {
			trs = append(trs, tr{utf8.RuneLen(r), 0})
		}
		switch d := utf8.RuneCountInString(repl) - utf8.RuneCountInString(old); {
		case d > 0:
			for i := len(trs) - d; i < len(trs); i++ {
				trs[i].change = 1
			}
		case d < 0 && len(trs) > 0:
			trs[len(trs)-1].change += d
		}
	}
	keep := func(c string) {
		b.WriteString(c)
		if z > 0 {
			trs = append(trs, tr{len(c), 0})
		}
	}
	for rest := s; len(rest) > 0; {
		n := nextGrapheme(rest)
		g := rest[:n]
		rest = rest[n:]
		if len(g) < 6 {
			if r, ok := p.m.transform(g); ok {
				replace(g, r)
				continue
			}
		}
		for len(g) > 0 {
			_, k := utf8.DecodeRuneInString(g)
			if r, ok := p.m.transform(g[:k]); ok {
				replace(g[:k], r)
			} else {
				keep(g[:k])
			}
			g = g[k:]
		}
	}
	if !modified {
		return s, z
	}
	if z == 0 {
		return b.String(), 0
	}
	offset := 0 // input bytes consumed
	zr := zeroRun{}
	for _, t := range trs {
		if t.change > 0 {
			zr.add(t.n, offset < 1 || offset-1 < z)
			continue
		}
		zr.add(t.n, offset < z)
		for range 1 - t.change {
			if offset < len(s) {
				_, k := utf8.DecodeRuneInString(s[offset:])
				offset += k
			}
		}
	}
	return b.String(), zr.n
}
