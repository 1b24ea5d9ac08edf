package tokenizer

// The BPE model: a word to token ids by repeatedly merging the adjacent pair
// of lowest rank (tokenizers' BPE::merge_word and Word::merge_all).

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// bpeCacheSize bounds the word cache; once full, new words are not cached.
const bpeCacheSize = 1 << 16

type bpe struct {
	vocab   map[string]int
	tokens  []string // by id; valid where hasID is set
	hasID   []bool
	merges  map[uint64]uint64 // (left<<32 | right) -> (rank<<32 | merged id)
	unkID   int               // -1: no unknown token
	prefix  string            // continuing_subword_prefix
	suffix  string            // end_of_word_suffix
	fuseUnk bool
	// byteIDs are the ids of the <0xAB> tokens for byte_fallback (-1: absent);
	// nil when byte_fallback is off.
	byteIDs      *[256]int
	ignoreMerges bool

	mu    sync.RWMutex
	cache map[string][]int
}

func (m *bpe) token(id int) (string, bool) {
	if id < 0 || id >= len(m.tokens) || !m.hasID[id] {
		return "", false
	}
	return m.tokens[id], true
}

// tokenize appends the ids of word w to out.
func (m *bpe) tokenize(w string, out []int) []int {
	if w == "" {
		return out
	}
	if m.ignoreMerges {
		if id, ok := m.vocab[w]; ok {
			return append(out, id)
		}
	}
	m.mu.RLock()
	ids, ok := m.cache[w]
	m.mu.RUnlock()
	if ok {
		return append(out, ids...)
	}
	ids = m.mergeWord(w)
	m.mu.Lock()
	if len(m.cache) < bpeCacheSize {
		m.cache[w] = ids
	}
	m.mu.Unlock()
	return append(out, ids...)
}

// symbol is one token of a word being merged, in a doubly linked list.
type symbol struct {
	id         int
	prev, next int // -1 at the ends
	gone       bool
}

// mergeCand is a possible merge of the symbol at pos with its successor.
type mergeCand struct {
	pos, rank, id int
}

func (m *bpe) mergeWord(w string) []int {
	var syms []symbol
	add := func(id int) {
		syms = append(syms, symbol{id: id, prev: len(syms) - 1, next: len(syms) + 1})
	}
	unk, unkPending := -1, false
	for i := 0; i < len(w); {
		_, n := utf8.DecodeRuneInString(w[i:])
		s := w[i : i+n]
		first, last := i == 0, i+n == len(w)
		i += n
		if !first && m.prefix != "" {
			s = m.prefix + s
		}
		if last && m.suffix != "" {
			s += m.suffix
		}
		if id, ok := m.vocab[s]; ok {
			if unkPending {
				add(unk)
				unkPending = false
			}
			add(id)
			continue
		}
		if m.byteIDs != nil {
			okAll := true
			for j := 0; j < len(s); j++ {
				if m.byteIDs[s[j]] < 0 {
					okAll = false
					break
				}
			}
			if okAll {
				// Like the library, a pending unknown token is not flushed here.
				for j := 0; j < len(s); j++ {
					add(m.byteIDs[s[j]])
				}
				continue
			}
		}
		if m.unkID >= 0 {
			if unkPending && !m.fuseUnk {
				add(unk)
			}
			unk, unkPending = m.unkID, true
		}
	}
	if unkPending {
		add(unk)
	}
	if len(syms) == 0 {
		return nil
	}
	syms[len(syms)-1].next = -1

	var h candHeap
	for i := 0; i+1 < len(syms); i++ {
		if r, ok := m.merges[pairKey(syms[i].id, syms[i+1].id)]; ok {
			h.push(mergeCand{i, int(r >> 32), int(uint32(r))})
		}
	}
	for len(h) > 0 {
		top := h.pop()
		cur := &syms[top.pos]
		if cur.gone || cur.next < 0 {
			continue
		}
		nextPos := cur.next
		right := syms[nextPos]
		r, ok := m.merges[pairKey(cur.id, right.id)]
		if !ok || int(uint32(r)) != top.id {
			continue // stale
		}
		cur.id = top.id
		cur.next = right.next
		syms[nextPos].gone = true
		if right.next >= 0 {
			syms[right.next].prev = top.pos
		}
		if cur.prev >= 0 {
			if r, ok := m.merges[pairKey(syms[cur.prev].id, cur.id)]; ok {
				h.push(mergeCand{cur.prev, int(r >> 32), int(uint32(r))})
			}
		}
		if cur.next >= 0 {
			if r, ok := m.merges[pairKey(cur.id, syms[cur.next].id)]; ok {
				h.push(mergeCand{top.pos, int(r >> 32), int(uint32(r))})
			}
		}
	}
	ids := make([]int, 0, len(syms))
	for _, s := range syms {
		if !s.gone {
			ids = append(ids, s.id)
		}
	}
	return ids
}

func pairKey(a, b int) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// candHeap is a binary min-heap of merges: lowest rank first, then leftmost.
type candHeap []mergeCand

func (h candHeap) less(i, j int) bool {
	if h[i].rank != h[j].rank {
		return h[i].rank < h[j].rank
	}
	return h[i].pos < h[j].pos
}

func (h *candHeap) push(c mergeCand) {
	*h = append(*h, c)
	q := *h
	for i := len(q) - 1; i > 0; {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *candHeap) pop() mergeCand {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.less(l, m) {
			m = l
		}
		if r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

// bpeConfig is the model section of tokenizer.json.
type bpeConfig struct {
	Vocab                   map[string]int `json:"vocab"`
	Merges                  []any          `json:"merges"`
	Dropout                 *float64       `json:"dropout"`
	UnkToken                *string        `json:"unk_token"`
	ContinuingSubwordPrefix *string        `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string        `json:"end_of_word_suffix"`
	FuseUnk                 bool           `json:"fuse_unk"`
	ByteFallback            bool           `json:"byte_fallback"`
	IgnoreMerges            bool           `json:"ignore_merges"`
}

// maxVocabID bounds token ids, so that a corrupt file cannot make the id
// table huge.
const maxVocabID = 1 << 24

func newBPE(c *bpeConfig) (*bpe, error) {
	if c.Dropout != nil && *c.Dropout != 0 {
		return nil, fmt.Errorf("model: BPE dropout %v is not supported (encoding would be random)", *c.Dropout)
	}
	m := &bpe{
		vocab:        c.Vocab,
		merges:       make(map[uint64]uint64, len(c.Merges)),
		unkID:        -1,
		fuseUnk:      c.FuseUnk,
		ignoreMerges: c.IgnoreMerges,
		cache:        make(map[string][]int),
	}
	if m.vocab == nil {
		m.vocab = map[string]int{}
	}
	maxID := -1
	for tok, id := range m.vocab {
		if id < 0 || id >= maxVocabID {
			return nil, fmt.Errorf("model: token %q has id %d outside [0, %d)", tok, id, maxVocabID)
		}
		maxID = max(maxID, id)
	}
	m.tokens = make([]string, maxID+1)
	m.hasID = make([]bool, maxID+1)
	for tok, id := range m.vocab {
		m.tokens[id], m.hasID[id] = tok, true
	}
	if c.ContinuingSubwordPrefix != nil {
		m.prefix = *c.ContinuingSubwordPrefix
	}
	if c.EndOfWordSuffix != nil {
		m.suffix = *c.EndOfWordSuffix
	}
	if c.UnkToken != nil {
		id, ok := m.vocab[*c.UnkToken]
		if !ok {
			return nil, fmt.Errorf("model: unk_token %q is not in the vocabulary", *c.UnkToken)
		}
		m.unkID = id
	}
	if c.ByteFallback {
		var b [256]int
		for i := range b {
			id, ok := m.vocab[fmt.Sprintf("<0x%02X>", i)]
			if !ok {
				id = -1
			}
			b[i] = id
		}
		m.byteIDs = &b
	}
	rank := 0
	for i, raw := range c.Merges {
		if s, ok := raw.(string); ok && strings.HasPrefix(s, "#version") {
			continue // merges.txt header, skipped by the library too
		}
		a, b, err := parseMerge(raw, i)
		if err != nil {
			return nil, err
		}
		aID, ok := m.vocab[a]
		if !ok {
			return nil, fmt.Errorf("model: merge %d: token %q is not in the vocabulary", i, a)
		}
		bID, ok := m.vocab[b]
		if !ok {
			return nil, fmt.Errorf("model: merge %d: token %q is not in the vocabulary", i, b)
		}
		if !strings.HasPrefix(b, m.prefix) {
			return nil, fmt.Errorf("model: merge %d: %q lacks the continuing_subword_prefix %q", i, b, m.prefix)
		}
		merged := a + b[len(m.prefix):]
		newID, ok := m.vocab[merged]
		if !ok {
			return nil, fmt.Errorf("model: merge %d: merged token %q is not in the vocabulary", i, merged)
		}
		// A repeated pair keeps its last rank, as the library's map does.
		m.merges[pairKey(aID, bID)] = uint64(rank)<<32 | uint64(uint32(newID))
		rank++
	}
	return m, nil
}

// parseMerge reads one merge: "a b" or ["a", "b"].
func parseMerge(raw any, rank int) (string, string, error) {
	switch v := raw.(type) {
	case string:
		parts := strings.Split(v, " ")
		if len(parts) != 2 {
			return "", "", fmt.Errorf("model: merge %d: %q is not two tokens separated by one space", rank, v)
		}
		return parts[0], parts[1], nil
	case []any:
		if len(v) == 2 {
			a, ok1 := v[0].(string)
			b, ok2 := v[1].(string)
			if ok1 && ok2 {
				return a, b, nil
			}
		}
	}
	return "", "", fmt.Errorf("model: merge %d: want \"a b\" or [\"a\", \"b\"], got %v", rank, raw)
}
