package tokenizer

// Canonical Unicode normalisation (NFD and NFC, UAX #15) over the tables in
// nfc_tables.go.

//go:generate ../../.venv/bin/python gen_nfc_tables.py

import (
	"sort"
	"strings"
	"sync"
)

type cccRange struct {
	lo, hi rune
	ccc    uint8
}

type canonDecomp struct {
	r, a, b  rune
	composes bool
}

// Hangul syllable arithmetic (Unicode §3.12).
const (
	hangulSBase  = 0xAC00
	hangulLBase  = 0x1100
	hangulVBase  = 0x1161
	hangulTBase  = 0x11A7
	hangulLCount = 19
	hangulVCount = 21
	hangulTCount = 28
	hangulNCount = hangulVCount * hangulTCount
	hangulSCount = hangulLCount * hangulNCount
)

var nfcData struct {
	once    sync.Once
	decomp  map[rune][]rune // full canonical decomposition
	compose map[uint64]rune // (first<<32 | second) -> primary composite
	// unstable holds the code points at or above U+0300 that can change, or
	// make a neighbour change, under NFC: nonzero combining class, second
	// element of a composition, or a decomposition that does not recompose.
	unstable map[rune]bool
}

func initNFC() {
	d := &nfcData
	one := make(map[rune][]rune, len(canonDecomps))
	d.compose = make(map[uint64]rune, len(canonDecomps))
	d.unstable = make(map[rune]bool)
	for _, c := range canonDecomps {
		if c.b == 0 {
			one[c.r] = []rune{c.a}
			d.unstable[c.r] = true
			continue
		}
		one[c.r] = []rune{c.a, c.b}
		if c.composes {
			d.compose[uint64(c.a)<<32|uint64(c.b)] = c.r
			d.unstable[c.b] = true
		} else {
			d.unstable[c.r] = true
		}
	}
	for _, r := range cccRanges {
		for c := r.lo; c <= r.hi; c++ {
			d.unstable[c] = true
		}
	}
	for v := rune(hangulVBase); v < hangulVBase+hangulVCount; v++ {
		d.unstable[v] = true
	}
	for t := rune(hangulTBase + 1); t < hangulTBase+hangulTCount; t++ {
		d.unstable[t] = true
	}
	d.decomp = make(map[rune][]rune, len(one))
	var full func(r rune, out []rune) []rune
	full = func(r rune, out []rune) []rune {
		m, ok := one[r]
		if !ok {
			return append(out, r)
		}
		for _, c := range m {
			out = full(c, out)
		}
		return out
	}
	for r := range one {
		d.decomp[r] = full(r, nil)
	}
}

// combiningClass returns the canonical combining class of r.
func combiningClass(r rune) uint8 {
	if r < 0x300 {
		return 0
	}
	i := sort.Search(len(cccRanges), func(i int) bool { return cccRanges[i].hi >= r })
	if i < len(cccRanges) && cccRanges[i].lo <= r {
		return cccRanges[i].ccc
	}
	return 0
}

// nfcStable reports whether NFC leaves s unchanged because no code point in it
// can change or combine (a sufficient, not necessary, condition).
func nfcStable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0xCC { // first byte of U+0300 and above
			goto slow
		}
	}
	return true
slow:
	nfcData.once.Do(initNFC)
	for _, r := range s {
		if r >= 0x300 && nfcData.unstable[r] {
			return false
		}
	}
	return true
}

// decompose returns the canonical decomposition of s in canonical order.
func decompose(s string) []rune {
	nfcData.once.Do(initNFC)
	out := make([]rune, 0, len(s))
	for _, r := range s {
		switch {
		case r >= hangulSBase && r < hangulSBase+hangulSCount:
			si := r - hangulSBase
			out = append(out, hangulLBase+si/hangulNCount, hangulVBase+(si%hangulNCount)/hangulTCount)
			if t := si % hangulTCount; t != 0 {
				out = append(out, hangulTBase+t)
			}
		case r >= 0xC0:
			if m, ok := nfcData.decomp[r]; ok {
				out = append(out, m...)
				continue
			}
			out = append(out, r)
		default:
			out = append(out, r)
		}
	}
	// Canonical ordering: stable sort of each run of nonzero classes.
	for i := 0; i < len(out); {
		if combiningClass(out[i]) == 0 {
			i++
			continue
		}
		j := i
		for j < len(out) && combiningClass(out[j]) != 0 {
			j++
		}
		run := out[i:j]
		sort.SliceStable(run, func(a, b int) bool { return combiningClass(run[a]) < combiningClass(run[b]) })
		i = j
	}
	return out
}

// composePair returns the primary composite of a and b, if any.
func composePair(a, b rune) (rune, bool) {
	if a >= hangulLBase && a < hangulLBase+hangulLCount && b >= hangulVBase && b < hangulVBase+hangulVCount {
		return hangulSBase + ((a-hangulLBase)*hangulVCount+(b-hangulVBase))*hangulTCount, true
	}
	if a >= hangulSBase && a < hangulSBase+hangulSCount && (a-hangulSBase)%hangulTCount == 0 &&
		b > hangulTBase && b < hangulTBase+hangulTCount {
		return a + (b - hangulTBase), true
	}
	c, ok := nfcData.compose[uint64(a)<<32|uint64(b)]
	return c, ok
}

// nfd returns the canonical decomposition (NFD) of s.
func nfd(s string) string {
	if !hasDecomposable(s) && nfcStable(s) {
		return s
	}
	return string(decompose(s))
}

// hasDecomposable reports whether s holds a code point with a canonical
// decomposition (NFD changes it).
func hasDecomposable(s string) bool {
	nfcData.once.Do(initNFC)
	for i := 0; i < len(s); i++ {
		if s[i] >= 0xC3 { // first byte of U+00C0 and above
			for _, r := range s[i:] {
				if r >= hangulSBase && r < hangulSBase+hangulSCount {
					return true
				}
				if _, ok := nfcData.decomp[r]; ok {
					return true
				}
			}
			return false
		}
	}
	return false
}

// nfc returns the canonical composition (NFC) of s.
func nfc(s string) string {
	if nfcStable(s) {
		return s
	}
	d := decompose(s)
	out := d[:0] // composition never grows the sequence
	starter := -1
	var last uint8 // class of the last rune kept after the starter
	for _, r := range d {
		cc := combiningClass(r)
		if starter >= 0 && (len(out)-1 == starter || (last != 0 && last < cc)) {
			if c, ok := composePair(out[starter], r); ok {
				out[starter] = c
				continue
			}
		}
		if cc == 0 {
			starter = len(out)
		}
		last = cc
		out = append(out, r)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range out {
		b.WriteRune(r)
	}
	return b.String()
}
