package tokenizer

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The goldens come from testdata/gen_unigram.py: the tokenizers library
// 0.20.3 on the tokenizer.json files that transformers 4.46.3 converts from
// two SentencePiece models trained there, and sentencepiece 0.2.0 itself on
// the models; see the header of that script.

// unigramGolden is a golden of gen_unigram.py: gen_golden.py's format plus
// the edits to make to the tokenizer.json first.
type unigramGolden struct {
	golden
	Patch map[string]json.RawMessage `json:"patch"`
}

var unigramGoldens = []string{"unigram", "unigram_lower_punct", "unigram_first", "unigram_never",
	"unigram_bytes", "unigram_bytes_fb"}

var unigramCache sync.Map // name -> *unigramGolden

func loadUnigramGolden(t testing.TB, name string) *unigramGolden {
	t.Helper()
	if g, ok := unigramCache.Load(name); ok {
		return g.(*unigramGolden)
	}
	g := new(unigramGolden)
	readGzipJSON(t, filepath.Join("testdata", "golden_"+name+".json.gz"), g)
	unigramCache.Store(name, g)
	return g
}

// patchJSON sets the values of patch (keys are paths such as
// "model/byte_fallback" or "pre_tokenizer/pretokenizers/0") in a JSON document.
func patchJSON(t testing.TB, data []byte, patch map[string]json.RawMessage) []byte {
	t.Helper()
	if len(patch) == 0 {
		return data
	}
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for path, raw := range patch {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		keys := strings.Split(path, "/")
		cur := doc
		for i, k := range keys {
			last := i == len(keys)-1
			switch c := cur.(type) {
			case map[string]any:
				if last {
					c[k] = v
				} else {
					cur = c[k]
				}
			case []any:
				n, err := strconv.Atoi(k)
				if err != nil || n >= len(c) {
					t.Fatalf("patch %s: bad index %q", path, k)
				}
				if last {
					c[n] = v
				} else {
					cur = c[n]
				}
			default:
				t.Fatalf("patch %s: %q is not in a container", path, k)
			}
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func loadUnigramTokenizer(t testing.TB, name string) (*Tokenizer, *unigramGolden) {
	t.Helper()
	g := loadUnigramGolden(t, name)
	data, err := os.ReadFile(filepath.Join("testdata", g.Tokenizer))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Parse(patchJSON(t, data, g.Patch))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tok, g
}

// checkGolden compares encoding and decoding with a golden of the tokenizers
// library and logs the counts.
func checkGolden(t *testing.T, name string, tok *Tokenizer, g *golden) {
	enc := &mismatches{t: t, what: "encode"}
	dec := &mismatches{t: t, what: "decode"}
	for _, c := range g.Cases {
		if got := tok.Encode(c.Text, false); !slices.Equal(got, c.IDs) && len(got)+len(c.IDs) > 0 {
			enc.add("%q (add_special_tokens=false)\n got %v\nwant %v", c.Text, got, c.IDs)
		} else if got := tok.Encode(c.Text, true); !slices.Equal(got, c.IDsSpecial) {
			enc.add("%q (add_special_tokens=true)\n got %v\nwant %v", c.Text, got, c.IDsSpecial)
		}
		if got := tok.Decode(c.IDsSpecial, false); got != c.Decoded {
			dec.add("%v of %q\n got %q\nwant %q", c.IDsSpecial, c.Text, got, c.Decoded)
		} else if got := tok.Decode(c.IDsSpecial, true); got != c.DecodedSkip {
			dec.add("%v of %q (skip special)\n got %q\nwant %q", c.IDsSpecial, c.Text, got, c.DecodedSkip)
		}
	}
	dec2 := &mismatches{t: t, what: "decode-only"}
	for _, c := range g.DecodeCases {
		if got := tok.Decode(c.IDs, false); got != c.Text {
			dec2.add("%v\n got %q\nwant %q", c.IDs, got, c.Text)
		} else if got := tok.Decode(c.IDs, true); got != c.TextSkip {
			dec2.add("%v (skip special)\n got %q\nwant %q", c.IDs, got, c.TextSkip)
		}
	}
	if len(g.Cases) < 1000 {
		t.Errorf("only %d golden strings", len(g.Cases))
	}
	t.Logf("%s: encode %d/%d strings, decode %d/%d, decode-only %d/%d match",
		name, len(g.Cases)-enc.n, len(g.Cases), len(g.Cases)-dec.n, len(g.Cases),
		len(g.DecodeCases)-dec2.n, len(g.DecodeCases))
}

// checkVocabulary compares the vocabulary with a golden's.
func checkVocabulary(t *testing.T, tok *Tokenizer, g *golden) {
	if got := tok.VocabSize(); got != g.VocabSize {
		t.Errorf("VocabSize() = %d, want %d", got, g.VocabSize)
	}
	for _, kv := range g.VocabSample {
		s, id := kv[0].(string), int(kv[1].(float64))
		if got, ok := tok.TokenToID(s); !ok || got != id {
			t.Errorf("TokenToID(%q) = %d, %v; want %d", s, got, ok, id)
		}
		if got, ok := tok.IDToToken(id); !ok || got != s {
			t.Errorf("IDToToken(%d) = %q, %v; want %q", id, got, ok, s)
		}
	}
	var want, got []string
	for _, a := range g.AddedTokens {
		if id, ok := tok.TokenToID(a.Content); !ok || id != a.ID {
			t.Errorf("TokenToID(%q) = %d, %v; want %d", a.Content, id, ok, a.ID)
		}
		if a.Special {
			want = append(want, fmt.Sprintf("%d:%s", a.ID, a.Content))
		}
	}
	for _, a := range tok.SpecialTokens() {
		got = append(got, fmt.Sprintf("%d:%s", a.ID, a.Content))
	}
	if !slices.Equal(got, want) {
		t.Errorf("SpecialTokens() = %v, want %v", got, want)
	}
}

// TestUnigramGolden: tokenizer.json files with a Unigram model, Precompiled,
// Strip, Replace, Lowercase, Metaspace (each prepend scheme, split on and
// off), Punctuation and WhitespaceSplit, against the tokenizers library.
func TestUnigramGolden(t *testing.T) {
	for _, name := range unigramGoldens {
		t.Run(name, func(t *testing.T) {
			tok, g := loadUnigramTokenizer(t, name)
			checkGolden(t, name, tok, &g.golden)
			checkVocabulary(t, tok, &g.golden)
		})
	}
}

// TestSentencePieceConverted: spm.model read directly gives the tokenizer
// that transformers converts it into, on the same goldens.
func TestSentencePieceConverted(t *testing.T) {
	for _, tc := range []struct {
		golden, model string
		opts          SentencePieceOptions
	}{
		{"unigram", "unigram/spm.model", SentencePieceOptions{}},
		{"unigram_lower_punct", "unigram/spm.model", SentencePieceOptions{LowerCase: true, SplitByPunct: true}},
		{"unigram_bytes", "unigram_bytes/spm.model", SentencePieceOptions{}},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			g := loadUnigramGolden(t, tc.golden)
			tok, err := LoadSentencePiece(filepath.Join("testdata", tc.model), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, tok, &g.golden)
			checkVocabulary(t, tok, &g.golden)
		})
	}
}

type spmGolden struct {
	Models map[string]struct {
		Model string `json:"model"`
		Cases []struct {
			Text       string `json:"text"`
			Hex        string `json:"hex"`
			IDs        []int  `json:"ids"`
			Decoded    string `json:"decoded"`
			Normalized string `json:"normalized"`
		} `json:"cases"`
		DecodeCases []struct {
			IDs  []int  `json:"ids"`
			Text string `json:"text"`
		} `json:"decode_cases"`
		Differ int `json:"differ"`
	} `json:"models"`
	Precompiled []struct {
		Text       string `json:"text"`
		Normalized string `json:"normalized"`
	} `json:"precompiled"`
	Graphemes []struct {
		Text     string   `json:"text"`
		Clusters []string `json:"clusters"`
	} `json:"graphemes"`
}

func loadSPMGolden(t testing.TB) *spmGolden {
	t.Helper()
	if g, ok := unigramCache.Load("spm"); ok {
		return g.(*spmGolden)
	}
	g := new(spmGolden)
	readGzipJSON(t, "testdata/golden_unigram_spm.json.gz", g)
	unigramCache.Store("spm", g)
	return g
}

// TestSentencePieceNative: with Native, Encode and Decode are the
// sentencepiece library's EncodeAsIds and DecodeIds (which differ from the
// converted tokenizer on the strings counted in "differ").
func TestSentencePieceNative(t *testing.T) {
	g := loadSPMGolden(t)
	for _, name := range []string{"unigram", "unigram_bytes"} {
		t.Run(name, func(t *testing.T) {
			m := g.Models[name]
			tok, err := LoadSentencePiece(filepath.Join("testdata", m.Model), SentencePieceOptions{Native: true})
			if err != nil {
				t.Fatal(err)
			}
			norm, nNorm := &mismatches{t: t, what: "normalize"}, 0
			enc := &mismatches{t: t, what: "encode"}
			dec := &mismatches{t: t, what: "decode"}
			for _, c := range m.Cases {
				text := c.Text
				if c.Hex != "" {
					b, err := hex.DecodeString(c.Hex)
					if err != nil {
						t.Fatal(err)
					}
					text = string(b)
				} else {
					nNorm++
					if got := tok.native.normalize(text); got != c.Normalized {
						norm.add("%q\n got %q\nwant %q", text, got, c.Normalized)
					}
				}
				if got := tok.Encode(text, false); !slices.Equal(got, c.IDs) && len(got)+len(c.IDs) > 0 {
					enc.add("%q\n got %v\nwant %v", text, got, c.IDs)
				}
				if got := tok.Decode(c.IDs, false); got != c.Decoded {
					dec.add("%v of %q\n got %q\nwant %q", c.IDs, text, got, c.Decoded)
				}
			}
			dec2 := &mismatches{t: t, what: "decode-only"}
			for _, c := range m.DecodeCases {
				if got := tok.Decode(c.IDs, false); got != c.Text {
					dec2.add("%v\n got %q\nwant %q", c.IDs, got, c.Text)
				}
			}
			t.Logf("%s: normalize %d/%d, encode %d/%d, decode %d/%d, decode-only %d/%d match "+
				"(EncodeAsIds differs from the tokenizers library on %d strings)",
				name, nNorm-norm.n, nNorm, len(m.Cases)-enc.n, len(m.Cases),
				len(m.Cases)-dec.n, len(m.Cases), len(m.DecodeCases)-dec2.n, len(m.DecodeCases), m.Differ)
		})
	}
}

// TestPrecompiled: the Precompiled normalizer alone against the library's,
// with the nmt_nfkc charsmap of unigram/spm.model.
func TestPrecompiled(t *testing.T) {
	g := loadSPMGolden(t)
	m, err := parseModelProto(mustRead(t, "testdata/unigram/spm.model"))
	if err != nil {
		t.Fatal(err)
	}
	cm, err := parseCharsmap(m.charsmap)
	if err != nil {
		t.Fatal(err)
	}
	n := precompiledNormalizer{cm}
	bad := &mismatches{t: t, what: "Precompiled"}
	for _, c := range g.Precompiled {
		if got := n.normalize(c.Text); got != c.Normalized {
			bad.add("%q\n got %q\nwant %q", c.Text, got, c.Normalized)
		}
	}
	t.Logf("Precompiled: %d/%d strings match", len(g.Precompiled)-bad.n, len(g.Precompiled))
}

// TestGraphemes: extended grapheme clusters against the regex module's \X.
func TestGraphemes(t *testing.T) {
	g := loadSPMGolden(t)
	bad := &mismatches{t: t, what: "graphemes"}
	for _, c := range g.Graphemes {
		var got []string
		for s := c.Text; s != ""; {
			n := nextGrapheme(s)
			got = append(got, s[:n])
			s = s[n:]
		}
		if !slices.Equal(got, c.Clusters) && len(got)+len(c.Clusters) > 0 {
			bad.add("%q\n got %q\nwant %q", c.Text, got, c.Clusters)
		}
	}
	t.Logf("graphemes: %d/%d strings match", len(g.Graphemes)-bad.n, len(g.Graphemes))
}

// TestLoadSentencePieceFallback: Load reads tokenizer.json when a directory
// has one, else spm.model; and a *.model file directly.
func TestLoadSentencePieceFallback(t *testing.T) {
	model := mustRead(t, "testdata/unigram/spm.model")
	want, _ := loadUnigramTokenizer(t, "unigram")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "spm.model"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	text := "Ｈｅｌｌｏ,  [MASK] wörld ①\u3000tokenizer 🙂"
	for _, path := range []string{dir, filepath.Join(dir, "spm.model")} {
		tok, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, w := tok.Encode(text, true), want.Encode(text, true); !slices.Equal(got, w) {
			t.Errorf("Load(%s).Encode = %v, want %v", path, got, w)
		}
	}
	// With a tokenizer.json beside it (SmolLM2's), that one is used.
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), mustRead(t, "testdata/smollm2/tokenizer.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() == want.VocabSize() {
		t.Errorf("Load(dir) read spm.model although tokenizer.json is there")
	}
	if _, err := Load(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(empty dir) = %v, want a not-exist error", err)
	}
}

// TestUnigramConcurrent: one tokenizer used from many goroutines gives the
// results it gives alone (run with -race).
func TestUnigramConcurrent(t *testing.T) {
	g := loadUnigramGolden(t, "unigram")
	conv, _ := loadUnigramTokenizer(t, "unigram")
	native, err := LoadSentencePiece("testdata/unigram/spm.model", SentencePieceOptions{Native: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []*Tokenizer{conv, native} {
		want := make([][]int, len(g.Cases))
		for i, c := range g.Cases {
			want[i] = tok.Encode(c.Text, true)
		}
		var wg sync.WaitGroup
		errs := make(chan string, 8)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(g.Cases); i += 3 {
					if got := tok.Encode(g.Cases[i].Text, true); !slices.Equal(got, want[i]) {
						errs <- fmt.Sprintf("goroutine %d: %q: got %v, want %v", w, g.Cases[i].Text, got, want[i])
						return
					}
					_ = tok.Decode(want[i], w%2 == 0)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
}

// ------------------------------------------------------------------ errors

// protoBuf writes protobuf messages for the error tests.
type protoBuf []byte

func (b protoBuf) varint(field int, v uint64) protoBuf {
	b = binary.AppendUvarint(b, uint64(field)<<3)
	return binary.AppendUvarint(b, v)
}

func (b protoBuf) bytes(field int, v []byte) protoBuf {
	b = binary.AppendUvarint(b, uint64(field)<<3|2)
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func (b protoBuf) float(field int, v float32) protoBuf {
	b = binary.AppendUvarint(b, uint64(field)<<3|5)
	return binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
}

func protoPiece(s string, score float32, typ int) []byte {
	return protoBuf(nil).bytes(1, []byte(s)).float(2, score).varint(3, uint64(typ))
}

// smallModel is a valid Unigram ModelProto: <unk>, ▁, a, b, ▁ab, plus extra
// fields of the top-level message.
func smallModel(trainer, normalizer []byte, extra ...[]byte) []byte {
	var m protoBuf
	m = m.bytes(1, protoPiece("<unk>", 0, pieceUnknown))
	m = m.bytes(1, protoPiece("▁", -1, pieceNormal))
	m = m.bytes(1, protoPiece("a", -2, pieceNormal))
	m = m.bytes(1, protoPiece("b", -2, pieceNormal))
	m = m.bytes(1, protoPiece("▁ab", -1.5, pieceNormal))
	for _, e := range extra {
		m = append(m, e...)
	}
	if trainer != nil {
		m = m.bytes(2, trainer)
	}
	if normalizer != nil {
		m = m.bytes(3, normalizer)
	}
	return m
}

func TestSentencePieceSmall(t *testing.T) {
	for _, native := range []bool{false, true} {
		tok, err := ParseSentencePiece(smallModel(nil, nil), SentencePieceOptions{Native: native})
		if err != nil {
			t.Fatal(err)
		}
		// <unk>(0) ▁(1) a(2) b(3) ▁ab(4); "ab" scores -1.5 as ▁ab, -5 as ▁ a b.
		if got, want := tok.Encode(" ab  ba", false), []int{4, 1, 3, 2}; !slices.Equal(got, want) {
			t.Errorf("native=%v: Encode = %v, want %v", native, got, want)
		}
		if got := tok.Decode([]int{4, 1, 3, 2}, false); got != "ab ba" {
			t.Errorf("native=%v: Decode = %q", native, got)
		}
	}
}

func TestSentencePieceErrors(t *testing.T) {
	good := smallModel(nil, nil)
	badCharsmap := protoBuf(nil).bytes(2, []byte{8, 0, 0, 0, 1})
	for _, tc := range []struct {
		name string
		data []byte
		opts SentencePieceOptions
	}{
		{"empty", nil, SentencePieceOptions{}},
		{"truncated", good[:len(good)-3], SentencePieceOptions{}},
		{"bad wire type", append(slices.Clone(good), 0x0b), SentencePieceOptions{}},
		{"bad length", protoBuf(nil).bytes(1, protoPiece("a", 0, 1))[:4], SentencePieceOptions{}},
		{"no pieces", protoBuf(nil).varint(7, 1), SentencePieceOptions{}},
		{"piece of a bad type", protoBuf(nil).bytes(1, protoPiece("a", 0, 9)), SentencePieceOptions{}},
		{"piece not UTF-8", protoBuf(nil).bytes(1, protoPiece("\xff", 0, 1)), SentencePieceOptions{}},
		{"BPE model", smallModel(protoBuf(nil).varint(3, 2), nil), SentencePieceOptions{}},
		{"unk_id out of range", smallModel(protoBuf(nil).varint(40, 99), nil), SentencePieceOptions{}},
		{"negative unk_id", smallModel(protoBuf(nil).varint(40, math.MaxUint64), nil), SentencePieceOptions{}},
		{"broken charsmap", smallModel(nil, badCharsmap), SentencePieceOptions{}},
		{"broken charsmap, native", smallModel(nil, badCharsmap), SentencePieceOptions{Native: true}},
		{"duplicate piece, native", smallModel(nil, nil, protoBuf(nil).bytes(1, protoPiece("a", 0, 1))), SentencePieceOptions{Native: true}},
		{"two unknown pieces, native", smallModel(nil, nil, protoBuf(nil).bytes(1, protoPiece("<u2>", 0, 2))), SentencePieceOptions{Native: true}},
		{"byte piece without byte_fallback, native", smallModel(nil, nil, protoBuf(nil).bytes(1, protoPiece("<0x41>", 0, 6))), SentencePieceOptions{Native: true}},
		{"byte_fallback without byte pieces, native", smallModel(protoBuf(nil).varint(35, 1), nil), SentencePieceOptions{Native: true}},
		{"empty piece, native", smallModel(nil, nil, protoBuf(nil).bytes(1, protoPiece("", 0, 1))), SentencePieceOptions{Native: true}},
	} {
		if _, err := ParseSentencePiece(tc.data, tc.opts); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	var pe *ProtoError
	if _, err := ParseSentencePiece(good[:len(good)-3], SentencePieceOptions{}); !errors.As(err, &pe) {
		t.Errorf("truncated model: %v is not a *ProtoError", err)
	}
	var ue *UnsupportedError
	if _, err := ParseSentencePiece(smallModel(protoBuf(nil).varint(3, 2), nil), SentencePieceOptions{}); !errors.As(err, &ue) {
		t.Errorf("BPE model: %v is not an *UnsupportedError", err)
	}
	if _, err := LoadSentencePiece(filepath.Join(t.TempDir(), "none.model"), SentencePieceOptions{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestUnigramJSONErrors(t *testing.T) {
	base := mustRead(t, "testdata/unigram/tokenizer.json")
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	charsmap := func(b []byte) json.RawMessage {
		return raw(fmt.Sprintf(`{"type":"Precompiled","precompiled_charsmap":%q}`, base64.StdEncoding.EncodeToString(b)))
	}
	for _, tc := range []struct {
		name  string
		patch map[string]json.RawMessage
	}{
		{"no unk_id", map[string]json.RawMessage{"model/unk_id": raw("null")}},
		{"unk_id out of range", map[string]json.RawMessage{"model/unk_id": raw("5000")}},
		{"empty vocab", map[string]json.RawMessage{"model/vocab": raw("[]"), "model/unk_id": raw("0")}},
		{"bad vocab entry", map[string]json.RawMessage{"model/vocab/5": raw(`["x"]`)}},
		{"score not a number", map[string]json.RawMessage{"model/vocab/5": raw(`["x", "y"]`)}},
		{"bad base64", map[string]json.RawMessage{"normalizer/normalizers/1": raw(`{"type":"Precompiled","precompiled_charsmap":"!!"}`)}},
		{"short charsmap", map[string]json.RawMessage{"normalizer/normalizers/1": charsmap([]byte{1, 2})}},
		{"charsmap larger than its blob", map[string]json.RawMessage{"normalizer/normalizers/1": charsmap([]byte{64, 0, 0, 0, 1, 2, 3, 4})}},
		{"charsmap replacements not UTF-8", map[string]json.RawMessage{"normalizer/normalizers/1": charsmap([]byte{4, 0, 0, 0, 0, 0, 0, 0, 0xff})}},
		{"no charsmap", map[string]json.RawMessage{"normalizer/normalizers/1": raw(`{"type":"Precompiled"}`)}},
		{"Replace without content", map[string]json.RawMessage{"normalizer/normalizers/2": raw(`{"type":"Replace","pattern":{"String":"a"}}`)}},
		{"Replace with a bad regex", map[string]json.RawMessage{"normalizer/normalizers/2": raw(`{"type":"Replace","pattern":{"Regex":"("},"content":""}`)}},
		{"two-character replacement", map[string]json.RawMessage{"pre_tokenizer/pretokenizers/0/replacement": raw(`"__"`)}},
		{"unknown prepend_scheme", map[string]json.RawMessage{"decoder/prepend_scheme": raw(`"sometimes"`)}},
		{"unknown Punctuation behavior", map[string]json.RawMessage{"pre_tokenizer/pretokenizers/0": raw(`{"type":"Punctuation","behavior":"Sideways"}`)}},
		{"unsupported normalizer", map[string]json.RawMessage{"normalizer/normalizers/0": raw(`{"type":"NFKC"}`)}},
	} {
		if _, err := Parse(patchJSON(t, base, tc.patch)); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	// An untagged model with a vocab list is read as Unigram.
	tok, err := Parse(patchJSON(t, base, map[string]json.RawMessage{"model/type": raw("null")}))
	if err != nil {
		t.Fatalf("untagged Unigram: %v", err)
	}
	if _, ok := tok.model.(*unigram); !ok {
		t.Errorf("untagged Unigram read as %T", tok.model)
	}
}

// TestCharsmapBounds: a trie whose units point outside the array finds
// nothing rather than failing.
func TestCharsmapBounds(t *testing.T) {
	// Root offset 0; unit 'a' (at 0^'a' = 97) is outside a two-unit array.
	cm, err := parseCharsmap([]byte{8, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 'x', 0})
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := cm.transform("abc"); ok {
		t.Errorf("transform found %q", r)
	}
	if n, _ := cm.longest("abc"); n != 0 {
		t.Errorf("longest found %d bytes", n)
	}
	if got := (precompiledNormalizer{cm}).normalize("abc"); got != "abc" {
		t.Errorf("normalize = %q", got)
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
