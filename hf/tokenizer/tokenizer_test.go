package tokenizer

import (
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nashmd/nashmd/internal/testassets"
)

// The goldens come from testdata/gen_golden.py (the Rust tokenizers library
// 0.20.3 through its Python binding); see the header of that script.

type goldenCase struct {
	Text        string `json:"text"`
	IDs         []int  `json:"ids"`
	IDsSpecial  []int  `json:"ids_special"`
	Decoded     string `json:"decoded"`
	DecodedSkip string `json:"decoded_skip"`
}

type goldenDecode struct {
	IDs      []int  `json:"ids"`
	Text     string `json:"text"`
	TextSkip string `json:"text_skip"`
}

type golden struct {
	Tokenizer   string `json:"tokenizer"`
	VocabSize   int    `json:"vocab_size"`
	AddedTokens []struct {
		ID      int    `json:"id"`
		Content string `json:"content"`
		Special bool   `json:"special"`
	} `json:"added_tokens"`
	VocabSample [][2]any       `json:"vocab_sample"`
	Cases       []goldenCase   `json:"cases"`
	DecodeCases []goldenDecode `json:"decode_cases"`
}

func readGzipJSON(t testing.TB, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := json.NewDecoder(zr).Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// tokenizers lists the golden sets; asset marks those whose tokenizer.json is
// a pinned asset rather than a file in testdata.
var tokenizers = []struct {
	name  string
	asset bool
}{
	{"qwen3", true},
	{"smollm2", false},
	{"mini_bytelevel", false},
	{"mini_split", false},
	{"mini_fallback", false},
}

var goldenCache sync.Map // name -> *golden

func loadGolden(t testing.TB, name string) *golden {
	t.Helper()
	if g, ok := goldenCache.Load(name); ok {
		return g.(*golden)
	}
	g := new(golden)
	readGzipJSON(t, filepath.Join("testdata", "golden_"+name+".json.gz"), g)
	goldenCache.Store(name, g)
	return g
}

func loadTokenizer(t testing.TB, name string, asset bool) (*Tokenizer, *golden) {
	t.Helper()
	g := loadGolden(t, name)
	path := filepath.Join("testdata", g.Tokenizer)
	if asset {
		path = testassets.Path(t, g.Tokenizer)
	}
	tok, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tok, g
}

// mismatches collects failures and reports the first few.
type mismatches struct {
	t    *testing.T
	n    int
	what string
}

func (m *mismatches) add(format string, args ...any) {
	m.n++
	if m.n <= 8 {
		m.t.Errorf("%s: "+format, append([]any{m.what}, args...)...)
	}
}

func TestGolden(t *testing.T) {
	for _, tc := range tokenizers {
		t.Run(tc.name, func(t *testing.T) {
			tok, g := loadTokenizer(t, tc.name, tc.asset)
			enc := &mismatches{t: t, what: "encode"}
			dec := &mismatches{t: t, what: "decode"}
			for _, c := range g.Cases {
				if got := tok.Encode(c.Text, false); !slices.Equal(got, c.IDs) {
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
			t.Logf("%s: encode %d/%d strings, decode %d/%d, decode-only %d/%d match",
				tc.name, len(g.Cases)-enc.n, len(g.Cases), len(g.Cases)-dec.n, len(g.Cases),
				len(g.DecodeCases)-dec2.n, len(g.DecodeCases))
		})
	}
}

func TestVocabulary(t *testing.T) {
	for _, tc := range tokenizers {
		t.Run(tc.name, func(t *testing.T) {
			tok, g := loadTokenizer(t, tc.name, tc.asset)
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
			var want []string
			for _, a := range g.AddedTokens {
				if got, ok := tok.TokenToID(a.Content); !ok || got != a.ID {
					t.Errorf("TokenToID(%q) = %d, %v; want %d", a.Content, got, ok, a.ID)
				}
				if a.Special {
					want = append(want, fmt.Sprintf("%d:%s", a.ID, a.Content))
				}
			}
			var got []string
			for _, a := range tok.SpecialTokens() {
				if !a.Special {
					t.Errorf("SpecialTokens() holds %q, not special", a.Content)
				}
				got = append(got, fmt.Sprintf("%d:%s", a.ID, a.Content))
			}
			if !slices.Equal(got, want) {
				t.Errorf("SpecialTokens() = %v, want %v", got, want)
			}
			if _, ok := tok.IDToToken(-1); ok {
				t.Error("IDToToken(-1) found a token")
			}
			if _, ok := tok.IDToToken(1 << 30); ok {
				t.Error("IDToToken(1<<30) found a token")
			}
		})
	}
}

func TestUnicodeHelpers(t *testing.T) {
	var g struct {
		UnicodeVersion string `json:"unicode_version"`
		Normalization  []struct {
			Text string `json:"text"`
			NFC  string `json:"nfc"`
			NFD  string `json:"nfd"`
		} `json:"normalization"`
		UTF8 []struct {
			Hex  string `json:"hex"`
			Text string `json:"text"`
		} `json:"utf8"`
	}
	readGzipJSON(t, filepath.Join("testdata", "golden_unicode.json.gz"), &g)
	if g.UnicodeVersion != nfcUnicodeVersion {
		t.Fatalf("golden made with Unicode %s, tables are %s", g.UnicodeVersion, nfcUnicodeVersion)
	}
	bad := &mismatches{t: t, what: "normalization"}
	for _, c := range g.Normalization {
		if got := nfc(c.Text); got != c.NFC {
			bad.add("nfc(%+q) = %+q, want %+q", c.Text, got, c.NFC)
		}
		if got := nfd(c.Text); got != c.NFD {
			bad.add("nfd(%+q) = %+q, want %+q", c.Text, got, c.NFD)
		}
	}
	bad = &mismatches{t: t, what: "lossy UTF-8"}
	for _, c := range g.UTF8 {
		b, err := hex.DecodeString(c.Hex)
		if err != nil {
			t.Fatal(err)
		}
		if got := lossyUTF8(b); got != c.Text {
			bad.add("lossyUTF8(% x) = %+q, want %+q", b, got, c.Text)
		}
	}
}

// TestConcurrentEncode encodes from many goroutines at once (run it with
// -race); every result must still match the golden.
func TestConcurrentEncode(t *testing.T) {
	tok, g := loadTokenizer(t, "smollm2", false)
	cases := g.Cases
	if testing.Short() {
		cases = cases[:200]
	}
	const workers = 8
	var wg sync.WaitGroup
	errs := make(chan string, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range cases {
				c := cases[(i*7+w*131)%len(cases)] // each worker in its own order
				if got := tok.Encode(c.Text, false); !slices.Equal(got, c.IDs) {
					errs <- fmt.Sprintf("worker %d: Encode(%q) = %v, want %v", w, c.Text, got, c.IDs)
					return
				}
				if got := tok.Decode(c.IDsSpecial, true); got != c.DecodedSkip {
					errs <- fmt.Sprintf("worker %d: Decode(%v) = %q, want %q", w, c.IDsSpecial, got, c.DecodedSkip)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestRoundTrip checks decode(encode(s)) == s for SmolLM2, whose pipeline
// has no normaliser, on the golden strings and on long runs that stress the
// regular expression and the merge loop.
func TestRoundTrip(t *testing.T) {
	tok, g := loadTokenizer(t, "smollm2", false)
	texts := []string{
		strings.Repeat(" ", 20000), strings.Repeat("a", 20000), strings.Repeat("\r\n ", 5000),
		strings.Repeat("1234567890", 2000), strings.Repeat("你好", 5000), strings.Repeat(" \t", 5000) + "x",
		strings.Repeat("e\u0301👍🏽 ", 2000), strings.Repeat("<|im_start|><|im_sta", 1000),
	}
	for _, c := range g.Cases {
		texts = append(texts, c.Text)
	}
	bad := &mismatches{t: t, what: "round trip"}
	for _, s := range texts {
		if got := tok.Decode(tok.Encode(s, false), false); got != s {
			bad.add("%.60q...: got %.60q...", s, got)
		}
	}
}

// TestInvalidUTF8 checks that invalid bytes are encoded as U+FFFD.
func TestInvalidUTF8(t *testing.T) {
	tok, _ := loadTokenizer(t, "smollm2", false)
	for _, c := range []struct{ in, want string }{
		{"a\xffb", "a\uFFFDb"},
		{"\xe4\xbd", "\uFFFD"},
		{"x\xe4\xbdy\xc0\xaf", "x\uFFFDy\uFFFD\uFFFD"},
		{"<|im_end|>\xf0\x9f\x98", "<|im_end|>\uFFFD"},
	} {
		got, want := tok.Encode(c.in, false), tok.Encode(c.want, false)
		if !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, want %v (the encoding of %q)", c.in, got, want, c.want)
		}
	}
}

func TestLoadDirectory(t *testing.T) {
	dir, err := Load(filepath.Join("testdata", "mini_bytelevel"))
	if err != nil {
		t.Fatal(err)
	}
	file, err := Load(filepath.Join("testdata", "mini_bytelevel", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := "Hello <mask> world"
	if a, b := dir.Encode(s, true), file.Encode(s, true); !slices.Equal(a, b) {
		t.Errorf("directory and file differ: %v vs %v", a, b)
	}
}

// miniJSON returns testdata/mini_bytelevel/tokenizer.json as a map to edit.
func miniJSON(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "mini_bytelevel", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestLoadErrors(t *testing.T) {
	model := func(m map[string]any) map[string]any { return m["model"].(map[string]any) }
	tests := []struct {
		name        string
		edit        func(m map[string]any)
		unsupported string // component of the expected *UnsupportedError, or ""
		contains    string // text the error must hold
	}{
		{"unknown model", func(m map[string]any) { model(m)["type"] = "WordPiece" }, "model", "WordPiece"},
		{"unigram model without unk_id", func(m map[string]any) { m["model"] = map[string]any{"type": "Unigram", "vocab": []any{}} }, "", "unk_id"},
		{"merge of three tokens", func(m map[string]any) { model(m)["merges"] = []any{"Ġ t h"} }, "", "merge 0"},
		{"merge not in vocab", func(m map[string]any) { model(m)["merges"] = []any{[]any{"Ġ", "zzz_not_a_token"}} }, "", "zzz_not_a_token"},
		{"merged token not in vocab", func(m map[string]any) { model(m)["merges"] = []any{"Ġ Ġ"} }, "", "ĠĠ"},
		{"merge of wrong shape", func(m map[string]any) { model(m)["merges"] = []any{[]any{"a"}} }, "", "merge 0"},
		{"unknown pre-tokenizer", func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{map[string]any{"type": "BertPreTokenizer"}}}
		}, "pre_tokenizer", "BertPreTokenizer"},
		{"unknown split behavior", func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Split", "pattern": map[string]any{"String": " "}, "behavior": "Sideways", "invert": false}
		}, "", "Sideways"},
		{"bad regex", func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "(?<"}, "behavior": "Isolated", "invert": false}
		}, "", "(?<"},
		{"unknown normalizer", func(m map[string]any) { m["normalizer"] = map[string]any{"type": "NFKC"} }, "normalizer", "NFKC"},
		{"unknown decoder", func(m map[string]any) { m["decoder"] = map[string]any{"type": "WordPiece"} }, "decoder", "WordPiece"},
		{"unknown post-processor", func(m map[string]any) { m["post_processor"] = map[string]any{"type": "BertProcessing"} }, "post_processor", "BertProcessing"},
		{"template without special token", func(m map[string]any) {
			m["post_processor"].(map[string]any)["special_tokens"] = map[string]any{}
		}, "", "<s>"},
		{"unk token not in vocab", func(m map[string]any) { model(m)["unk_token"] = "<nope>" }, "", "<nope>"},
		{"dropout", func(m map[string]any) { model(m)["dropout"] = 0.1 }, "", "dropout"},
		{"version", func(m map[string]any) { m["version"] = "2.0" }, "", "2.0"},
		{"no model", func(m map[string]any) { delete(m, "model") }, "", "no model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := miniJSON(t)
			tc.edit(m)
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "tokenizer.json")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			tok, err := Load(path)
			if err == nil {
				t.Fatalf("Load succeeded (%d tokens), want an error", tok.VocabSize())
			}
			if !strings.Contains(err.Error(), tc.contains) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %q and the file", err, tc.contains)
			}
			var ue *UnsupportedError
			if got := errors.As(err, &ue); got != (tc.unsupported != "") {
				t.Errorf("errors.As(%v, *UnsupportedError) = %v", err, got)
			} else if got && ue.Component != tc.unsupported {
				t.Errorf("UnsupportedError.Component = %q, want %q", ue.Component, tc.unsupported)
			}
		})
	}
	t.Run("not JSON", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "tokenizer.json")
		if err := os.WriteFile(path, []byte("{\"model\": "), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err == nil {
			t.Error("Load of truncated JSON succeeded")
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nothing.json"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Load of a missing file: %v, want os.ErrNotExist", err)
		}
	})
}

// BenchmarkEncode encodes every golden string once per iteration and reports
// tokens per second.
func BenchmarkEncode(b *testing.B) {
	for _, tc := range tokenizers[:2] {
		b.Run(tc.name, func(b *testing.B) {
			tok, g := loadTokenizer(b, tc.name, tc.asset)
			n, bytes := 0, 0
			for _, c := range g.Cases {
				n += len(c.IDs)
				bytes += len(c.Text)
			}
			b.SetBytes(int64(bytes))
			b.ResetTimer()
			for b.Loop() {
				for _, c := range g.Cases {
					tok.Encode(c.Text, false)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkEncodeCold measures encoding without the word cache's help: a fresh
// tokenizer per iteration, load time excluded.
func BenchmarkEncodeCold(b *testing.B) {
	g := loadGolden(b, "smollm2")
	data, err := os.ReadFile(filepath.Join("testdata", g.Tokenizer))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		b.StopTimer()
		tok, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, c := range g.Cases {
			tok.Encode(c.Text, false)
		}
	}
}
