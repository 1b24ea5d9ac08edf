package tokenizer

// The Unigram model: a word to the pieces of the best-scoring segmentation
// (Viterbi over the lattice of vocabulary pieces), as the tokenizers library's
// Unigram::encode_optimized computes it; and the sentencepiece library's own
// variant of the same search (spmEncode).

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"
)

// A model splits a pre-tokenised word into token ids (BPE or Unigram).
type model interface {
	// tokenize appends the ids of word w to out.
	tokenize(w string, out []int) []int
	// token returns the string of id.
	token(id int) (string, bool)
	// tokenToID returns the id of a token string.
	tokenToID(s string) (int, bool)
	// size is the library's Model::get_vocab_size: the first id that
	// added tokens not in the vocabulary are given.
	size() int
	// distinct is the number of distinct token strings.
	distinct() int
}

func (m *bpe) tokenToID(s string) (int, bool) {
	id, ok := m.vocab[s]
	return id, ok
}

func (m *bpe) size() int     { return len(m.vocab) }
func (m *bpe) distinct() int { return len(m.vocab) }

// unkPenalty is subtracted from the lowest score to score an unknown
// character (K_UNK_PENALTY in the library, kUnkPenalty in sentencepiece).
const unkPenalty = 10.0

// Types of SentencePiece pieces (ModelProto.SentencePiece.Type).
const (
	pieceNormal      = 1
	pieceUnknown     = 2
	pieceControl     = 3
	pieceUserDefined = 4
	pieceUnused      = 5
	pieceByte        = 6
)

type unigram struct {
	pieces   []string
	scores   []float64
	vocab    map[string]int // piece -> its last id, as the library's token_to_ids
	trie     pieceTrie      // every piece, valued by vocab
	unkID    int
	minScore float64
	byteIDs  *[256]int // byte_fallback: ids of <0x00>..<0xFF> (-1: absent); nil when off

	// For spmEncode: piece types, and sentencepiece's float32 scores and
	// extremes over the normal pieces.
	types          []uint8
	scores32       []float32
	spmMin, spmMax float32
	spmByteIDs     *[256]int // byte pieces, when the model has byte_fallback
}

// newUnigram builds the model from its vocabulary; unkID must name a piece.
func newUnigram(pieces []string, scores []float64, unkID int, byteFallback bool) (*unigram, error) {
	if len(pieces) == 0 {
		return nil, errors.New("model: Unigram: empty vocabulary")
	}
	if len(pieces) >= maxVocabID {
		return nil, fmt.Errorf("model: Unigram: %d pieces, more than %d", len(pieces), maxVocabID)
	}
	if unkID < 0 || unkID >= len(pieces) {
		return nil, fmt.Errorf("model: Unigram: unk_id %d outside the vocabulary of %d pieces", unkID, len(pieces))
	}
	m := &unigram{pieces: pieces, scores: scores, vocab: make(map[string]int, len(pieces)),
		unkID: unkID, minScore: math.Inf(1)}
	for id, p := range pieces {
		m.vocab[p] = id
		m.minScore = min(m.minScore, scores[id])
	}
	keys := make([]string, 0, len(m.vocab))
	for p := range m.vocab {
		keys = append(keys, p)
	}
	sort.Strings(keys)
	values := make([]int32, len(keys))
	for i, p := range keys {
		values[i] = int32(m.vocab[p])
	}
	m.trie = newPieceTrie(keys, values)
	if byteFallback {
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
	return m, nil
}

func (m *unigram) token(id int) (string, bool) {
	if id < 0 || id >= len(m.pieces) {
		return "", false
	}
	return m.pieces[id], true
}

func (m *unigram) tokenToID(s string) (int, bool) {
	id, ok := m.vocab[s]
	return id, ok
}

func (m *unigram) size() int     { return len(m.pieces) }
func (m *unigram) distinct() int { return len(m.vocab) }

// bestNode is the best path ending at a byte position: its last piece starts
// at start (-1: no path yet) and has id.
type bestNode struct {
	id    int
	score float64
	start int
}

func (m *unigram) tokenize(w string, out []int) []int {
	if w == "" {
		return out
	}
	unkScore := m.minScore - unkPenalty
	best := make([]bestNode, len(w)+1)
	for i := range best {
		best[i].start = -1
	}
	for start := 0; start < len(w); {
		_, mblen := utf8.DecodeRuneInString(w[start:])
		here := best[start].score
		single := false
		m.trie.prefixes(w, start, func(end int, id int32) {
			t := &best[end]
			if s := m.scores[id] + here; t.start < 0 || s > t.score {
				*t = bestNode{int(id), s, start}
			}
			single = single || end-start == mblen
		})
		if !single {
			t := &best[start+mblen]
			if s := unkScore + here; t.start < 0 || s > t.score {
				*t = bestNode{m.unkID, s, start}
			}
		}
		start += mblen
	}
	// Backtrack; runs of unknown pieces are fused into one string.
	var strs []string
	unkEnd := -1 // end of the pending run of unknown pieces
	for end := len(w); end > 0; {
		n := best[end]
		if n.id == m.unkID {
			if unkEnd < 0 {
				unkEnd = end
			}
		} else {
			if unkEnd >= 0 {
				strs = append(strs, w[end:unkEnd])
				unkEnd = -1
			}
			strs = append(strs, w[n.start:end])
		}
		end = n.start
	}
	if unkEnd >= 0 {
		strs = append(strs, w[:unkEnd])
	}
	for i := len(strs) - 1; i >= 0; i-- {
		s := strs[i]
		if id, ok := m.vocab[s]; ok {
			out = append(out, id)
			continue
		}
		if m.byteIDs != nil && allBytesKnown(m.byteIDs, s) {
			for j := 0; j < len(s); j++ {
				out = append(out, m.byteIDs[s[j]])
			}
			continue
		}
		out = append(out, m.unkID)
	}
	return out
}

func allBytesKnown(ids *[256]int, s string) bool {
	for i := 0; i < len(s); i++ {
		if ids[s[i]] < 0 {
			return false
		}
	}
	return true
}

// spmEncode segments a normalised sentence as the sentencepiece library's
// unigram Model::EncodeOptimized and SentencePieceProcessor::Encode do: only
// normal, user-defined and unused pieces are candidates (unused ones
// skipped), a user-defined piece of n bytes scores n·max − 0.1, scores add up
// in float32, and a run of unknown characters becomes one unknown id, or the
// ids of its bytes with byte_fallback.
func (m *unigram) spmEncode(s string, out []int) []int {
	if s == "" {
		return out
	}
	type node struct {
		id    int
		score float32
		start int
	}
	unkScore := m.spmMin - float32(unkPenalty)
	best := make([]node, len(s)+1)
	for i := range best {
		best[i].start = -1
	}
	for start := 0; start < len(s); {
		_, mblen := utf8.DecodeRuneInString(s[start:])
		here := best[start].score
		single := false
		m.trie.prefixes(s, start, func(end int, id int32) {
			switch m.types[id] {
			case pieceNormal, pieceUserDefined:
			default:
				return
			}
			length := end - start
			var score float64 // C++: the conditional has type double
			if m.types[id] == pieceUserDefined {
				score = float64(float32(float32(length)*m.spmMax)) - 0.1
			} else {
				score = float64(m.scores32[id])
			}
			t := &best[end]
			if c := score + float64(here); t.start < 0 || c > float64(t.score) {
				*t = node{int(id), float32(c), start}
			}
			single = single || length == mblen
		})
		if !single {
			t := &best[start+mblen]
			if c := float32(unkScore + here); t.start < 0 || c > t.score {
				*t = node{m.unkID, c, start}
			}
		}
		start += mblen
	}
	// Backtrack, then emit left to right.
	var path []node // (id, -, start), last piece first
	for end := len(s); end > 0; end = best[end].start {
		path = append(path, best[end])
	}
	prevUnk := false
	for i := len(path) - 1; i >= 0; i-- {
		id, unk := path[i].id, path[i].id == m.unkID
		switch {
		case unk && m.spmByteIDs != nil:
			end := len(s)
			if i > 0 {
				end = path[i-1].start
			}
			for j := path[i].start; j < end; j++ {
				out = append(out, m.spmByteIDs[s[j]])
			}
		case unk && prevUnk:
			// merged into the unknown piece before it
		default:
			out = append(out, id)
		}
		prevUnk = unk
	}
	return out
}

// ------------------------------------------------------------------ the trie

// A pieceTrie finds the pieces that are prefixes of a string at a position.
// The children of a node are consecutive nodes, sorted by label.
type pieceTrie struct {
	nodes []trieNode // nodes[0] is the root
}

type trieNode struct {
	first int32  // index of the first child
	n     uint16 // number of children
	label byte   // the byte on the edge into this node
	value int32  // -1 where no piece ends
}

// newPieceTrie builds the trie of keys, which must be sorted and distinct.
func newPieceTrie(keys []string, values []int32) pieceTrie {
	t := pieceTrie{nodes: []trieNode{{value: -1}}}
	var build func(node int32, lo, hi, depth int)
	build = func(node int32, lo, hi, depth int) {
		if lo < hi && len(keys[lo]) == depth {
			t.nodes[node].value = values[lo]
			lo++
		}
		first := int32(len(t.nodes))
		var bounds []int
		for i := lo; i < hi; {
			b := keys[i][depth]
			j := i + 1
			for j < hi && keys[j][depth] == b {
				j++
			}
			t.nodes = append(t.nodes, trieNode{label: b, value: -1})
			bounds = append(bounds, i)
			i = j
		}
		t.nodes[node].first, t.nodes[node].n = first, uint16(len(bounds))
		bounds = append(bounds, hi)
		for k := 0; k+1 < len(bounds); k++ {
			build(first+int32(k), bounds[k], bounds[k+1], depth+1)
		}
	}
	build(0, 0, len(keys), 0)
	return t
}

func (t *pieceTrie) child(node int32, b byte) (int32, bool) {
	nd := &t.nodes[node]
	lo, hi := nd.first, nd.first+int32(nd.n)
	for lo < hi { // binary search over the labels
		mid := int32(uint32(lo+hi) >> 1)
		if t.nodes[mid].label < b {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < nd.first+int32(nd.n) && t.nodes[lo].label == b {
		return lo, true
	}
	return 0, false
}

// prefixes calls f with the end and the value of each piece that starts at
// s[start:], shortest first.
func (t *pieceTrie) prefixes(s string, start int, f func(end int, value int32)) {
	node := int32(0)
	for i := start; i < len(s); i++ {
		next, ok := t.child(node, s[i])
		if !ok {
			return
		}
		node = next
		if v := t.nodes[node].value; v >= 0 {
			f(i+1, v)
		}
	}
}

// ------------------------------------------------------------- tokenizer.json

// unigramConfig is the model section of tokenizer.json for type Unigram.
type unigramConfig struct {
	UnkID        *int              `json:"unk_id"`
	Vocab        []json.RawMessage `json:"vocab"`
	ByteFallback bool              `json:"byte_fallback"`
}

func parseUnigram(raw json.RawMessage) (*unigram, error) {
	var c unigramConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("model: Unigram: %w", err)
	}
	if c.UnkID == nil {
		// The library fails on any unknown character then; Encode cannot fail.
		return nil, errors.New("model: Unigram without unk_id is not supported")
	}
	pieces := make([]string, len(c.Vocab))
	scores := make([]float64, len(c.Vocab))
	for i, e := range c.Vocab {
		var pair []any
		if err := json.Unmarshal(e, &pair); err != nil || len(pair) != 2 {
			return nil, fmt.Errorf("model: Unigram: vocab entry %d: want [piece, score], got %s", i, e)
		}
		p, ok1 := pair[0].(string)
		s, ok2 := pair[1].(float64)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("model: Unigram: vocab entry %d: want [piece, score], got %s", i, e)
		}
		pieces[i], scores[i] = p, s
	}
	return newUnigram(pieces, scores, *c.UnkID, c.ByteFallback)
}

// isUnigramConfig reports whether an untagged model section looks like a
// Unigram one (a vocab list rather than a map), as the library infers it.
func isUnigramConfig(probe map[string]json.RawMessage) bool {
	v, ok := probe["vocab"]
	return ok && strings.HasPrefix(strings.TrimSpace(string(v)), "[")
}
