package tokenizer

// Extended grapheme clusters (UAX #29), as Rust's unicode-segmentation crate
// finds them for the Precompiled normalizer, over the tables in
// grapheme_tables.go.

//go:generate ../../.venv/bin/python gen_grapheme_tables.py

import (
	"sort"
	"unicode/utf8"
)

type graphemeRange struct {
	lo, hi rune
	props  uint8
}

// Grapheme_Cluster_Break classes (the low four bits of a property), in the
// order of gen_grapheme_tables.py.
const (
	gcbOther = iota
	gcbCR
	gcbLF
	gcbControl
	gcbExtend
	gcbZWJ
	gcbRI
	gcbPrepend
	gcbSpacingMark
	gcbL
	gcbV
	gcbT
	gcbLV
	gcbLVT
	gcbExtPict // Extended_Pictographic, otherwise Other
)

// Indic_Conjunct_Break values (the property shifted right by four).
const (
	incbNone = iota
	incbLinker
	incbConsonant
	incbExtend
)

func graphemeProp(r rune) (gcb, incb uint8) {
	if r < 0x7F && r >= 0x20 {
		return gcbOther, incbNone
	}
	i := sort.Search(len(graphemeProps), func(i int) bool { return graphemeProps[i].hi >= r })
	if i < len(graphemeProps) && graphemeProps[i].lo <= r {
		p := graphemeProps[i].props
		return p & 0xF, p >> 4
	}
	return gcbOther, incbNone
}

// nextGrapheme returns the length in bytes of the extended grapheme cluster at
// the start of s (0 when s is empty).
func nextGrapheme(s string) int {
	r, n := utf8.DecodeRuneInString(s)
	if n == 0 {
		return 0
	}
	prev, prevIncb := graphemeProp(r)
	// State for GB11 (ExtPict Extend* ZWJ × ExtPict), GB12/13 (pairs of
	// regional indicators) and GB9c (Consonant [Extend Linker]* Linker
	// [Extend Linker]* × Consonant).
	pictSeq := prev == gcbExtPict // the cluster so far is ExtPict Extend*
	pictZWJ := false              // ... followed by ZWJ
	riCount := 0
	if prev == gcbRI {
		riCount = 1
	}
	conj := prevIncb == incbConsonant // Consonant [Extend Linker]*
	conjLinked := false               // ... holding a Linker
	i := n
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		cur, curIncb := graphemeProp(r)
		if graphemeBreak(prev, cur, pictZWJ, riCount, conj && conjLinked, curIncb) {
			break
		}
		// Update the state with the character that joins the cluster.
		switch {
		case cur == gcbExtPict:
			pictSeq, pictZWJ = true, false
		case cur == gcbExtend && pictSeq && !pictZWJ:
		case cur == gcbZWJ && pictSeq && !pictZWJ:
			pictZWJ = true
		default:
			pictSeq, pictZWJ = false, false
		}
		if cur == gcbRI {
			riCount++
		} else {
			riCount = 0
		}
		switch {
		case curIncb == incbConsonant:
			conj, conjLinked = true, false
		case conj && curIncb == incbLinker:
			conjLinked = true
		case conj && curIncb == incbExtend:
		default:
			conj, conjLinked = false, false
		}
		prev = cur
		i += n
	}
	return i
}

// graphemeBreak reports whether the rules of UAX #29 put a boundary between a
// character of class prev and one of class cur.
func graphemeBreak(prev, cur uint8, pictZWJ bool, riCount int, conjLinked bool, curIncb uint8) bool {
	switch {
	case prev == gcbCR && cur == gcbLF: // GB3
		return false
	case prev == gcbControl || prev == gcbCR || prev == gcbLF: // GB4
		return true
	case cur == gcbControl || cur == gcbCR || cur == gcbLF: // GB5
		return true
	case prev == gcbL && (cur == gcbL || cur == gcbV || cur == gcbLV || cur == gcbLVT): // GB6
		return false
	case (prev == gcbLV || prev == gcbV) && (cur == gcbV || cur == gcbT): // GB7
		return false
	case (prev == gcbLVT || prev == gcbT) && cur == gcbT: // GB8
		return false
	case cur == gcbExtend || cur == gcbZWJ || cur == gcbSpacingMark: // GB9, GB9a
		return false
	case prev == gcbPrepend: // GB9b
		return false
	case conjLinked && curIncb == incbConsonant: // GB9c
		return false
	case pictZWJ && prev == gcbZWJ && cur == gcbExtPict: // GB11
		return false
	case prev == gcbRI && cur == gcbRI: // GB12, GB13
		return riCount%2 == 0
	}
	return true // GB999
}
