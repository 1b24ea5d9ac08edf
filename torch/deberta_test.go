package torch_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nashmd/nashmd/hf/safetensors"
	"github.com/nashmd/nashmd/torch"
)

// debertaDir is testdata/deberta/<name>, written by testdata/gen_deberta.py.
func debertaDir(name string) string { return filepath.Join("testdata", "deberta", name) }

// readGolden loads every tensor of a safetensors file into s.
func readGolden(t *testing.T, s *torch.Scope, path string) map[string]*torch.Tensor {
	t.Helper()
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g := map[string]*torch.Tensor{}
	for _, n := range f.Names() {
		st, err := f.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		g[n] = s.FromSafetensors(st, torch.CPU)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return g
}

var debertaCases = []struct {
	name, golden, prefix string
	pickle               bool
	other                []string
}{
	{name: "v3_shared", golden: "v3_shared"},
	{name: "v3_pairrm", golden: "v3_pairrm", prefix: "pretrained_model.",
		other: []string{"head_layer.1.bias", "head_layer.1.weight", "head_layer.4.bias", "head_layer.4.weight"}},
	{name: "v2_c2p_bin", golden: "v2_c2p_bin", pickle: true},
	{name: "v2_c2p_bin_sharded", golden: "v2_c2p_bin", pickle: true},
}

// TestDebertaGolden: last_hidden_state matches transformers' DebertaV2Model
// at every real position, for shared and separate position projections,
// c2p+p2c with log buckets, c2p alone with absolute positions, token types
// and embed_proj, from safetensors (bare and under a prefix) and from
// pytorch_model.bin (single and sharded).
func TestDebertaGolden(t *testing.T) {
	for _, c := range debertaCases {
		t.Run(c.name, func(t *testing.T) {
			s := torch.NewScope()
			defer s.Close()
			m, other, err := torch.LoadDeberta(debertaDir(c.name), c.prefix, torch.Float32, torch.CPU, c.pickle)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if !slices.Equal(other, c.other) {
				t.Errorf("other = %q, want %q", other, c.other)
			}
			g := readGolden(t, s, filepath.Join(debertaDir(c.golden), "golden.safetensors"))
			h := s.DebertaHiddenTypes(m, g["ids"], g["mask"], g["token_type_ids"])
			if err := s.Err(); err != nil {
				t.Fatal(err)
			}
			if got, want := h.Shape(), g["last_hidden_state"].Shape(); !slices.Equal(got, want) {
				t.Fatalf("shape %v, want %v", got, want)
			}
			d := maxAbsDiffMasked(t, s, h, g["last_hidden_state"], g["mask"])
			all := maxAbsDiffMasked(t, s, h, g["last_hidden_state"], s.Ones(g["mask"].Shape(), torch.Int64, torch.CPU))
			if d > 1e-4 || math.IsNaN(d) {
				t.Errorf("last_hidden_state max abs diff %.3g > 1e-4 at real positions", d)
			}
			if all > 1e-4 || math.IsNaN(all) {
				t.Errorf("last_hidden_state max abs diff %.3g > 1e-4 with pad positions", all)
			}
			t.Logf("max abs diff %.3g at real positions, %.3g everywhere", d, all)

			// Row 2 (7 pads) alone, cut to its 5 real tokens: the same values.
			n := int64(5)
			row := func(x *torch.Tensor) *torch.Tensor {
				if x == nil {
					return nil
				}
				return s.Narrow(s.Narrow(x, 0, 2, 1), 1, 0, n)
			}
			alone := s.DebertaHiddenTypes(m, row(g["ids"]), nil, row(g["token_type_ids"]))
			if d := maxAbsDiffMasked(t, s, alone, row(g["last_hidden_state"]), row(g["mask"])); d > 1e-4 {
				t.Errorf("row 2 alone without padding: max abs diff %.3g", d)
			}
		})
	}
}

// TestDebertaBFloat16: the same encoder in bfloat16 stays near the float32
// golden (LayerNorm outputs are O(1); bf16 keeps 8 bits of mantissa).
func TestDebertaBFloat16(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	m, _, err := torch.LoadDeberta(debertaDir("v3_shared"), "", torch.BFloat16, torch.CPU, false)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g := readGolden(t, s, filepath.Join(debertaDir("v3_shared"), "golden.safetensors"))
	h := s.DebertaHidden(m, g["ids"], g["mask"])
	if h == nil || h.DType() != torch.BFloat16 {
		t.Fatalf("hidden: %v (%v)", h, s.Err())
	}
	d := maxAbsDiffMasked(t, s, s.To(h, torch.Float32, torch.CPU), g["last_hidden_state"], g["mask"])
	if d > 0.1 || math.IsNaN(d) {
		t.Fatalf("bf16 max abs diff %.3g > 0.1", d)
	}
	t.Logf("bf16 max abs diff %.3g", d)
}

// TestDebertaRelativePositions: make_log_bucket_position at PairRM's
// settings (256 buckets, max 512) up to distance 1499, and the tiny models'.
func TestDebertaRelativePositions(t *testing.T) {
	s := torch.NewScope()
	defer s.Close()
	g := readGolden(t, s, filepath.Join("testdata", "deberta", "relpos.safetensors"))
	for _, c := range []struct {
		key             string
		buckets, maxPos int64
	}{{"b256_m512", 256, 512}, {"b16_m32", 16, 32}} {
		L := g[c.key+"_row"].Shape()[0]
		r := s.DebertaRelativePositions(L, L, c.buckets, c.maxPos, torch.CPU)
		for _, part := range []struct {
			name string
			got  *torch.Tensor
		}{{"_row", s.Reshape(s.Narrow(r, 0, 0, 1), L)}, {"_col", s.Reshape(s.Narrow(r, 1, 0, 1), L)}} {
			got, err1 := part.got.Int64s()
			want, err2 := g[c.key+part.name].Int64s()
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2, s.Err())
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%s%s[%d] = %d, want %d", c.key, part.name, i, got[i], want[i])
				}
			}
		}
	}
}

// TestDebertaNoLeak: repeated forwards leave no live tensor behind.
func TestDebertaNoLeak(t *testing.T) {
	m, _, err := torch.LoadDeberta(debertaDir("v3_pairrm"), "pretrained_model.", torch.Float32, torch.CPU, false)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g0 := torch.NewScope()
	defer g0.Close()
	g := readGolden(t, g0, filepath.Join(debertaDir("v3_pairrm"), "golden.safetensors"))
	before := torch.LiveTensors()
	for range 5 {
		s := torch.NewScope()
		s.DebertaHidden(m, g["ids"], g["mask"])
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
	if after := torch.LiveTensors(); after != before {
		t.Fatalf("live tensors %d → %d after 5 forwards", before, after)
	}
}

// copyDir copies the files of src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.WriteFile(filepath.Join(dst, e.Name()), mustRead(t, filepath.Join(src, e.Name())), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func editConfig(t *testing.T, dir, old, new string) {
	t.Helper()
	p := filepath.Join(dir, "config.json")
	b := string(mustRead(t, p))
	if !strings.Contains(b, old) {
		t.Fatalf("config.json lacks %q", old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(b, old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDebertaLoadErrors(t *testing.T) {
	// One weight renamed: missing and unexpected, by their full names.
	dir := copyDir(t, debertaDir("v3_pairrm"))
	f, err := safetensors.Open(filepath.Join(debertaDir("v3_pairrm"), "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	for _, n := range f.Names() {
		x, _ := f.Tensor(n)
		if n == "pretrained_model.encoder.layer.1.attention.self.pos_key_proj.weight" {
			x.Name = "pretrained_model.encoder.layer.1.attention.self.pos_kee_proj.weight"
		}
		ts = append(ts, x)
	}
	err = safetensors.WriteFile(filepath.Join(dir, "model.safetensors"), ts, nil)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = torch.LoadDeberta(dir, "pretrained_model.", torch.Float32, torch.CPU, false)
	if err == nil || !strings.Contains(err.Error(), "1 missing weights: pretrained_model.encoder.layer.1.attention.self.pos_key_proj.weight") ||
		!strings.Contains(err.Error(), "1 unexpected weights: pretrained_model.encoder.layer.1.attention.self.pos_kee_proj.weight") {
		t.Fatalf("renamed weight: err = %v", err)
	}
	// The wrong prefix: everything is missing, nothing loaded.
	_, _, err = torch.LoadDeberta(debertaDir("v3_pairrm"), "deberta.", torch.Float32, torch.CPU, false)
	if err == nil || !strings.Contains(err.Error(), "missing weights: deberta.embeddings.LayerNorm.bias") {
		t.Fatalf("wrong prefix: err = %v", err)
	}

	cases := []struct {
		name, old, new, want string
		is                   error
	}{
		{"conv", `"hidden_act": "gelu",`, `"hidden_act": "gelu", "conv_kernel_size": 3,`, "conv_kernel_size = 3", torch.ErrArg},
		{"act", `"hidden_act": "gelu"`, `"hidden_act": "relu"`, `hidden_act "relu" is unsupported`, nil},
		{"type", `"model_type": "deberta-v2"`, `"model_type": "deberta"`, `model_type "deberta" is not deberta-v2`, nil},
		{"shape", `"intermediate_size": 64`, `"intermediate_size": 65`, "model expects", torch.ErrShape},
		{"buckets", `"position_buckets": 16`, `"position_buckets": 2`, "position_buckets 2", torch.ErrArg},
	}
	for _, c := range cases {
		dir := copyDir(t, debertaDir("v3_shared"))
		editConfig(t, dir, c.old, c.new)
		_, _, err := torch.LoadDeberta(dir, "", torch.Float32, torch.CPU, false)
		if err == nil || !strings.Contains(err.Error(), c.want) || (c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}

	// pytorch_model.bin without allowPickle.
	for _, name := range []string{"v2_c2p_bin", "v2_c2p_bin_sharded"} {
		_, _, err = torch.LoadDeberta(debertaDir(name), "", torch.Float32, torch.CPU, false)
		if !errors.Is(err, torch.ErrPickleRefused) || !strings.Contains(err.Error(), "allow_pickle = true") {
			t.Errorf("%s without allowPickle: err = %v", name, err)
		}
	}
	// Token types for a model without token_type_embeddings.
	s := torch.NewScope()
	defer s.Close()
	m, _, err := torch.LoadDeberta(debertaDir("v3_shared"), "", torch.Float32, torch.CPU, false)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ids := s.FromInt64([]int64{1, 2, 3}, 1, 3)
	if s.DebertaHiddenTypes(m, ids, nil, s.FromInt64([]int64{0, 0, 0}, 1, 3)); !errors.Is(s.Err(), torch.ErrArg) {
		t.Errorf("token types with type_vocab_size 0: %v", s.Err())
	}
}

// TestWeightsPickleKinds: the restricted unpickler reads storages of every
// dtype, 0-d tensors, views at an offset into a shared storage, strided
// (transposed, column) views and nn.Parameters as torch.save wrote them.
func TestWeightsPickleKinds(t *testing.T) {
	dir := debertaDir("pickle_kinds")
	w, err := torch.OpenWeights(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f, err := safetensors.Open(filepath.Join(dir, "golden.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !slices.Equal(w.Names(), f.Names()) {
		t.Fatalf("names %q, want %q", w.Names(), f.Names())
	}
	s := torch.NewScope()
	defer s.Close()
	for _, n := range f.Names() {
		want, _ := f.Tensor(n)
		got := s.Weight(w, n)
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		st, err := got.Safetensor(n)
		if err != nil {
			t.Fatal(err)
		}
		if st.DType != want.DType || !slices.Equal(st.Shape, want.Shape) || !bytes.Equal(st.Data, want.Data) {
			t.Errorf("%s: got %s %v % x, want %s %v % x", n, st.DType, st.Shape, st.Data, want.DType, want.Shape, want.Data)
		}
	}
	if s.Weight(w, "nope"); s.Err() == nil || !strings.Contains(s.Err().Error(), `"nope"`) {
		t.Errorf("missing tensor: %v", s.Err())
	}
}

// writeZip writes a zip archive holding files (name → content).
func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	for name, content := range files {
		w, err := z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWeightsPickleRefusesCode: a pickle that would call os.system, or a
// file that is not a zip archive, is refused with a reason.
func TestWeightsPickleRefusesCode(t *testing.T) {
	for _, c := range []struct {
		name, pkl, want string
	}{
		{"global", "\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.", "refusing pickle global os.system"},
		{"builtins", "\x80\x02cbuiltins\neval\n.", "refusing pickle global builtins.eval"},
		{"stack_global", "\x80\x04\x8c\x02os\x8c\x06system\x93.", "refusing pickle global os.system"},
		{"not_dict", "\x80\x02K\x01.", "not a dict of tensors"},
		{"truncated", "\x80\x02}q\x00(X\x05\x00\x00", "truncated"},
		{"no_stop", "\x80\x02}", "no STOP"},
		{"opcode", "\x80\x02\xff.", "unsupported pickle opcode 0xff"},
	} {
		dir := t.TempDir()
		writeZip(t, filepath.Join(dir, "pytorch_model.bin"), map[string]string{"archive/data.pkl": c.pkl})
		_, err := torch.OpenWeights(dir, true)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pytorch_model.bin"), []byte("\x80\x02}q\x00."), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := torch.OpenWeights(dir, true); err == nil || !strings.Contains(err.Error(), "legacy") {
		t.Errorf("legacy file: err = %v", err)
	}
	if _, err := torch.OpenWeights(t.TempDir(), true); err == nil || !strings.Contains(err.Error(), "no model.safetensors") {
		t.Errorf("empty dir: err = %v", err)
	}
}

func TestParseDebertaConfig(t *testing.T) {
	c, err := torch.ParseDebertaConfig([]byte(`{"model_type": "deberta-v2", "hidden_size": 1024,
		"pos_att_type": "p2c|c2p", "norm_rel_ebd": "layer_norm", "position_biased_input": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.PosAttType, []string{"p2c", "c2p"}) || c.EmbeddingSize != 1024 || c.PositionBiasedInput ||
		c.LayerNormEps != 1e-7 || c.MaxRelativePositions != -1 || c.PositionBuckets != -1 || c.VocabSize != 128100 {
		t.Fatalf("parsed %+v", c)
	}
	c, err = torch.ParseDebertaConfig([]byte(`{"pos_att_type": ["c2p"], "embedding_size": 24}`))
	if err != nil || !slices.Equal(c.PosAttType, []string{"c2p"}) || c.EmbeddingSize != 24 || !c.PositionBiasedInput {
		t.Fatalf("parsed %+v, %v", c, err)
	}
	if _, err := torch.ParseDebertaConfig([]byte(`{"pos_att_type": 3}`)); err == nil {
		t.Fatal("pos_att_type 3 accepted")
	}
}

// TestWeightsPickleBadView: a tensor whose view reaches past its storage,
// or an expanded (stride 0) view, is an error when read, not a crash.
func TestWeightsPickleBadView(t *testing.T) {
	tensor := func(size, stride string) string { // x = _rebuild_tensor_v2(FloatStorage of 2, 0, size, stride, False, None)
		return "\x80\x02}(X\x01\x00\x00\x00xctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n" +
			"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQK\x00" + size + stride + "\x89NtRu."
	}
	for _, c := range []struct{ name, pkl, want string }{
		{"ok", tensor("K\x02\x85", "K\x01\x85"), ""},
		{"past_end", tensor("K\x03\x85", "K\x01\x85"), "more elements than its storage"},
		{"strided_past_end", tensor("K\x02\x85", "K\x02\x85"), "outside its storage"},
		{"expanded", tensor("K\x02K\x02\x86", "K\x00K\x01\x86"), "more elements than its storage"},
	} {
		dir := t.TempDir()
		writeZip(t, filepath.Join(dir, "pytorch_model.bin"), map[string]string{
			"archive/data.pkl": c.pkl, "archive/data/0": "\x00\x00\x80\x3f\x00\x00\x00\x40"}) // 1.0, 2.0
		w, err := torch.OpenWeights(dir, true)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		s := torch.NewScope()
		x := s.Weight(w, "x")
		if c.want == "" {
			if v, err := x.Float32s(); err != nil || !slices.Equal(v, []float32{1, 2}) {
				t.Errorf("%s: %v, %v (%v)", c.name, v, err, s.Err())
			}
		} else if s.Err() == nil || !strings.Contains(s.Err().Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, s.Err(), c.want)
		}
		s.Close()
		w.Close()
	}
}
