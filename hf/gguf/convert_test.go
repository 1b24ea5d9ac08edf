package gguf

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nashmd/nashmd/hf/safetensors"
	"github.com/nashmd/nashmd/internal/testassets"
)

// The references here are testdata/gen_golden.py's: gguf-py's reader and
// dequantisation, and transformers' own GGUF import (load_gguf_checkpoint:
// its dequantisation, its un-permutation of q/k, its names) loaded into
// LlamaForCausalLM / Qwen2ForCausalLM, and transformers' GGUF tokenizer.

const smolAsset = "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

// checksum is the generator's summary of one tensor.
type checksum struct {
	Shape     []int64   `json:"shape"`
	Numel     int64     `json:"numel"`
	Sum       float64   `json:"sum"`
	Sumsq     float64   `json:"sumsq"`
	Sumabs    float64   `json:"sumabs"`
	Wsum      float64   `json:"wsum"`
	First     []float64 `json:"first"`
	SampleIdx []int64   `json:"sample_idx"`
	Sample    []float64 `json:"sample"`
}

type tokenizerSummary struct {
	VocabSize     int              `json:"vocab_size"`
	VocabSHA256   string           `json:"vocab_sha256"`
	MergesCount   int              `json:"merges_count"`
	MergesSHA256  string           `json:"merges_sha256"`
	AddedTokens   []map[string]any `json:"added_tokens"`
	Normalizer    any              `json:"normalizer"`
	PreTokenizer  map[string]any   `json:"pre_tokenizer"`
	PostProcessor any              `json:"post_processor"`
	Decoder       any              `json:"decoder"`
	Model         map[string]any   `json:"model"`
	InitKwargs    map[string]any   `json:"init_kwargs"`
}

type smolGolden struct {
	GGUF struct {
		Version    uint32 `json:"version"`
		Alignment  int64  `json:"alignment"`
		DataOffset int64  `json:"data_offset"`
		FileSize   int64  `json:"file_size"`
		Metadata   []struct {
			Key   string   `json:"key"`
			Types []uint32 `json:"types"`
			Value any      `json:"value"`
			Len   int      `json:"len"`
			First []any    `json:"first"`
			Last  []any    `json:"last"`
		} `json:"metadata"`
		Tensors        []goldenTensorInfo `json:"tensors"`
		DequantSamples map[string]struct {
			TypeName string    `json:"type_name"`
			Numel    int64     `json:"numel"`
			First    []float64 `json:"first"`
			Last     []float64 `json:"last"`
			Stride   int64     `json:"stride"`
			Strided  []float64 `json:"strided"`
			Sum      float64   `json:"sum"`
			Sumsq    float64   `json:"sumsq"`
		} `json:"dequant_samples"`
	} `json:"gguf"`
	HFConfig    map[string]any      `json:"hf_config"`
	HF          map[string]checksum `json:"hf"`
	HFTokenizer tokenizerSummary    `json:"hf_tokenizer"`
}

// TestSmolLM2Reader reads the real file's header, metadata and tensor infos
// and dequantises Q8_0, Q4_1 and F32 tensors, against gguf-py.
func TestSmolLM2Reader(t *testing.T) {
	path := testassets.Path(t, smolAsset)
	var g smolGolden
	readJSON(t, "testdata/smollm2_golden.json", &g)
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gg := g.GGUF
	if f.Version != gg.Version || f.Alignment != gg.Alignment || f.DataOffset != gg.DataOffset {
		t.Errorf("version/alignment/data offset %d/%d/%d, gguf-py %d/%d/%d", f.Version, f.Alignment, f.DataOffset,
			gg.Version, gg.Alignment, gg.DataOffset)
	}
	if len(f.KV) != len(gg.Metadata) {
		t.Fatalf("%d metadata pairs, gguf-py %d", len(f.KV), len(gg.Metadata))
	}
	for i, m := range gg.Metadata {
		kv := f.KV[i]
		if kv.Key != m.Key || uint32(kv.Type) != m.Types[0] {
			t.Errorf("metadata %d: %s %s, gguf-py %s %v", i, kv.Key, kv.Type, m.Key, m.Types)
			continue
		}
		if kv.Type != TypeArray {
			if err := sameValue(kv.Type, kv.Value, m.Value); err != nil {
				t.Errorf("%s: %v", kv.Key, err)
			}
			continue
		}
		a := kv.Value.(Array)
		if uint32(a.Elem) != m.Types[1] || a.Len() != m.Len {
			t.Errorf("%s: %s[%d], gguf-py %v[%d]", kv.Key, a.Elem, a.Len(), m.Types, m.Len)
			continue
		}
		for j := range m.First {
			if err := sameValue(a.Elem, index(a, j), m.First[j]); err != nil {
				t.Errorf("%s[%d]: %v", kv.Key, j, err)
			}
			k := a.Len() - len(m.Last) + j
			if err := sameValue(a.Elem, index(a, k), m.Last[j]); err != nil {
				t.Errorf("%s[%d]: %v", kv.Key, k, err)
			}
		}
	}
	if len(f.Tensors) != len(gg.Tensors) {
		t.Fatalf("%d tensors, gguf-py %d", len(f.Tensors), len(gg.Tensors))
	}
	for i, gt := range gg.Tensors {
		ti := f.Tensors[i]
		if ti.Name != gt.Name || ti.Type.String() != gt.TypeName || fmt.Sprint(ti.Dims) != fmt.Sprint(gt.Dims) ||
			f.DataOffset+ti.Offset != gt.DataOffset || ti.Size != gt.NBytes {
			t.Errorf("tensor %d: %+v, gguf-py %+v", i, ti, gt)
		}
	}
	types := map[string]bool{}
	for name, s := range gg.DequantSamples {
		types[s.TypeName] = true
		v, err := f.Dequantize(name)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(v)) != s.Numel {
			t.Fatalf("%s: %d values, gguf-py %d", name, len(v), s.Numel)
		}
		exact := func(what string, got []float32, want []float64) {
			for i := range want {
				if float64(got[i]) != want[i] {
					t.Errorf("%s %s[%d] = %v, gguf-py %v", name, what, i, got[i], want[i])
					return
				}
			}
		}
		exact("first", v[:len(s.First)], s.First)
		exact("last", v[len(v)-len(s.Last):], s.Last)
		strided := make([]float32, len(s.Strided))
		for i := range strided {
			strided[i] = v[int64(i)*s.Stride]
		}
		exact("strided", strided, s.Strided)
		sum, sumsq := 0.0, 0.0
		for _, x := range v {
			sum += float64(x)
			sumsq += float64(x) * float64(x)
		}
		if relDiff(sum, s.Sum) > 1e-9 || relDiff(sumsq, s.Sumsq) > 1e-9 {
			t.Errorf("%s: sum %v sumsq %v, gguf-py %v %v", name, sum, sumsq, s.Sum, s.Sumsq)
		}
	}
	for _, typ := range []string{"Q8_0", "Q4_1", "F32"} {
		if !types[typ] {
			t.Errorf("no %s sample in the golden", typ)
		}
	}
}

// TestConvertSmolLM2 converts the real model and checks every weight against
// transformers' import of the same file (names, shapes, values, and the
// un-permutation through position-sensitive checksums), plus config.json and
// the tokenizer files.
func TestConvertSmolLM2(t *testing.T) {
	path := testassets.Path(t, smolAsset)
	var g smolGolden
	readJSON(t, "testdata/smollm2_golden.json", &g)
	dir := filepath.Join(t.TempDir(), "smol")
	start := time.Now()
	calls := 0
	err := Convert(path, dir, &ConvertOptions{Progress: func(done, total int, name string) {
		calls++
		if done != calls || total != 272 {
			t.Errorf("progress %d/%d on call %d", done, total, calls)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("converted in %v", time.Since(start))

	st, err := safetensors.Open(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	names := st.Names()
	sort.Strings(names)
	var want []string
	for n := range g.HF {
		want = append(want, n)
	}
	sort.Strings(want)
	if !reflect.DeepEqual(names, want) {
		t.Errorf("tensor names differ from transformers' state_dict (less the tied lm_head):\n got %d %v\nwant %d", len(names), names[:3], len(want))
	}
	stats := compareWeights(t, st.Tensor, g.HF)
	t.Logf("vs transformers: max rel diff sum %.2g, sumsq %.2g, weighted sum %.2g (of sum|x|); first/sample values bit-identical: %v",
		stats.sum, stats.sumsq, stats.wsum, stats.exact)

	checkConfig(t, dir, g.HFConfig, map[string]any{"tie_word_embeddings": true})
	checkSmolTokenizer(t, dir, g)
}

type diffStats struct {
	sum, sumsq, wsum float64
	exact            bool
}

// compareWeights compares every golden tensor with the converted one.
func compareWeights(t *testing.T, get func(string) (safetensors.Tensor, error), golden map[string]checksum) diffStats {
	t.Helper()
	s := diffStats{exact: true}
	for name, c := range golden {
		tn, err := get(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if tn.DType != safetensors.F32 || !reflect.DeepEqual(tn.Shape, c.Shape) {
			t.Errorf("%s: %s %v, transformers F32 %v", name, tn.DType, tn.Shape, c.Shape)
			continue
		}
		n := len(tn.Data) / 4
		at := func(i int) float32 { return math.Float32frombits(binary.LittleEndian.Uint32(tn.Data[4*i:])) }
		var sum, sumsq, sumabs, wsum float64
		for i := 0; i < n; i++ {
			x := float64(at(i))
			sum += x
			sumsq += x * x
			sumabs += math.Abs(x)
			wsum += x * float64(i%1009) / 1009
		}
		r := diffStats{sum: relDiff(sum, c.Sum), sumsq: relDiff(sumsq, c.Sumsq), wsum: math.Abs(wsum-c.Wsum) / math.Max(c.Sumabs, 1e-30)}
		if r.sum > 1e-5 || r.sumsq > 1e-5 || r.wsum > 1e-7 || relDiff(sumabs, c.Sumabs) > 1e-5 {
			t.Errorf("%s: sum %v sumsq %v wsum %v, transformers %v %v %v", name, sum, sumsq, wsum, c.Sum, c.Sumsq, c.Wsum)
		}
		s.sum, s.sumsq, s.wsum = math.Max(s.sum, r.sum), math.Max(s.sumsq, r.sumsq), math.Max(s.wsum, r.wsum)
		for i, w := range c.First {
			if float64(at(i)) != w {
				t.Errorf("%s[%d] = %v, transformers %v", name, i, at(i), w)
				s.exact = false
				break
			}
		}
		for k, i := range c.SampleIdx {
			if float64(at(int(i))) != c.Sample[k] {
				t.Errorf("%s[%d] = %v, transformers %v (wrong order: permutation?)", name, i, at(int(i)), c.Sample[k])
				s.exact = false
				break
			}
		}
	}
	return s
}

func relDiff(a, b float64) float64 {
	if a == b {
		return 0
	}
	return math.Abs(a-b) / math.Max(math.Abs(b), 1e-30)
}

// checkConfig compares config.json with transformers' GGUF config on the
// hyperparameters; override lists keys where ours is expected to differ
// (transformers' GGUF import never sets tie_word_embeddings).
func checkConfig(t *testing.T, dir string, hf map[string]any, override map[string]any) map[string]any {
	t.Helper()
	var cfg map[string]any
	readJSON(t, filepath.Join(dir, "config.json"), &cfg)
	for _, k := range []string{"model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
		"num_key_value_heads", "max_position_embeddings", "vocab_size", "head_dim", "bos_token_id", "eos_token_id",
		"pad_token_id", "rope_theta", "rope_scaling", "hidden_act", "tie_word_embeddings"} {
		want, ok := hf[k]
		if o, has := override[k]; has {
			want, ok = o, true
		}
		got, have := cfg[k]
		if !ok && !have {
			continue
		}
		if fmt.Sprint(num(got)) != fmt.Sprint(num(want)) {
			t.Errorf("config.json %s = %v, want %v", k, got, want)
		}
	}
	// Both come from the same float32 in the file; we print its shortest
	// decimal (1e-05), transformers the widened float64.
	e1, _ := cfg["rms_norm_eps"].(json.Number).Float64()
	e2, _ := hf["rms_norm_eps"].(json.Number).Float64()
	if float32(e1) != float32(e2) {
		t.Errorf("rms_norm_eps %v, transformers %v", e1, e2)
	}
	if cfg["torch_dtype"] != "float32" {
		t.Errorf("torch_dtype %v", cfg["torch_dtype"])
	}
	return cfg
}

// num normalises a JSON number so that 100000 and 100000.0 compare equal.
func num(v any) any {
	if n, ok := v.(json.Number); ok {
		f, err := n.Float64()
		if err == nil {
			return f
		}
	}
	return v
}

type tokenizerFile struct {
	AddedTokens  []map[string]any `json:"added_tokens"`
	Normalizer   any              `json:"normalizer"`
	PreTokenizer map[string]any   `json:"pre_tokenizer"`
	Decoder      map[string]any   `json:"decoder"`
	Model        struct {
		Type         string         `json:"type"`
		Vocab        map[string]int `json:"vocab"`
		Merges       [][2]string    `json:"merges"`
		ByteFallback bool           `json:"byte_fallback"`
		IgnoreMerges bool           `json:"ignore_merges"`
	} `json:"model"`
}

func readTokenizer(t *testing.T, dir string) (tokenizerFile, []string) {
	t.Helper()
	var tf tokenizerFile
	raw, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &tf); err != nil {
		t.Fatal(err)
	}
	byID := make([]string, len(tf.Model.Vocab))
	for tok, id := range tf.Model.Vocab {
		if id < 0 || id >= len(byID) || byID[id] != "" {
			t.Fatalf("vocab ids are not 0..%d exactly once (%q -> %d)", len(byID)-1, tok, id)
		}
		byID[id] = tok
	}
	return tf, byID
}

// checkSmolTokenizer compares our tokenizer.json with transformers' GGUF
// conversion: same vocabulary, merges and added tokens. Known, intended
// differences (transformers 4.46 routes a "gpt2" vocabulary under the llama
// architecture through its SentencePiece converter):
//   - pre_tokenizer: ours is what tokenizer.ggml.pre = "smollm" means in
//     llama.cpp (\p{N} split, then the GPT-2 regex): Digits(individual) +
//     ByteLevel; transformers ignores tokenizer.ggml.pre and emits the
//     ByteLevel alone. The ByteLevel settings must agree.
//   - post_processor: ours adds no BOS (tokenizer.ggml.add_bos_token is
//     false); transformers' adds <|im_start|>.
//   - model: ours has byte_fallback false and no unk_token (a byte-level
//     vocabulary covers every byte); decoder: ours is the plain ByteLevel.
func checkSmolTokenizer(t *testing.T, dir string, g smolGolden) {
	t.Helper()
	want := g.HFTokenizer
	tf, byID := readTokenizer(t, dir)
	var vb strings.Builder
	for id, tok := range byID {
		fmt.Fprintf(&vb, "%d\t%s\n", id, tok)
	}
	if len(byID) != want.VocabSize || sha(vb.String()) != want.VocabSHA256 {
		t.Errorf("vocab: %d tokens sha %s, transformers %d sha %s", len(byID), sha(vb.String()), want.VocabSize, want.VocabSHA256)
	}
	var mb strings.Builder
	for _, m := range tf.Model.Merges {
		fmt.Fprintf(&mb, "%s %s\n", m[0], m[1])
	}
	if len(tf.Model.Merges) != want.MergesCount || sha(mb.String()) != want.MergesSHA256 {
		t.Errorf("merges: %d sha %s, transformers %d sha %s", len(tf.Model.Merges), sha(mb.String()), want.MergesCount, want.MergesSHA256)
	}
	if !reflect.DeepEqual(normJSON(tf.AddedTokens), normJSON(want.AddedTokens)) {
		t.Errorf("added tokens differ:\n got %v\nwant %v", tf.AddedTokens, want.AddedTokens)
	}
	specials := 0
	for _, a := range tf.AddedTokens {
		if a["special"] == true {
			specials++
		}
	}
	if specials != 17 {
		t.Errorf("%d special added tokens, want the 17 control tokens", specials)
	}
	if want.PreTokenizer["type"] != "ByteLevel" {
		t.Fatalf("transformers' pre_tokenizer changed: %v", want.PreTokenizer)
	}
	pre := normJSON(tf.PreTokenizer).(map[string]any)
	seq, _ := pre["pretokenizers"].([]any)
	if pre["type"] != "Sequence" || len(seq) != 2 ||
		!reflect.DeepEqual(seq[0], map[string]any{"type": "Digits", "individual_digits": true}) ||
		!reflect.DeepEqual(seq[1], normJSON(want.PreTokenizer)) {
		t.Errorf("pre_tokenizer %v, want Digits(individual) then transformers' %v", pre, want.PreTokenizer)
	}
	if tf.Model.Type != "BPE" || want.Model["type"] != "BPE" || tf.Model.ByteFallback || tf.Model.IgnoreMerges {
		t.Errorf("model %s byte_fallback %v ignore_merges %v", tf.Model.Type, tf.Model.ByteFallback, tf.Model.IgnoreMerges)
	}

	var cfg map[string]any
	readJSON(t, filepath.Join(dir, "tokenizer_config.json"), &cfg)
	meta := map[string]any{}
	for _, m := range g.GGUF.Metadata {
		meta[m.Key] = m.Value
	}
	tokOf := func(key string) string {
		id, _ := meta[key].(json.Number).Int64()
		return byID[id]
	}
	for k, key := range map[string]string{"bos_token": "tokenizer.ggml.bos_token_id", "eos_token": "tokenizer.ggml.eos_token_id",
		"pad_token": "tokenizer.ggml.padding_token_id", "unk_token": "tokenizer.ggml.unknown_token_id"} {
		if cfg[k] != tokOf(key) {
			t.Errorf("tokenizer_config %s = %v, want %q (%s)", k, cfg[k], tokOf(key), key)
		}
	}
	if cfg["eos_token"] != "<|im_end|>" {
		t.Errorf("eos_token %v", cfg["eos_token"])
	}
	if cfg["chat_template"] != want.InitKwargs["chat_template"] || cfg["chat_template"] != meta["tokenizer.chat_template"] {
		t.Errorf("chat_template differs from the GGUF's")
	}
	if cfg["add_bos_token"] != meta["tokenizer.ggml.add_bos_token"] {
		t.Errorf("add_bos_token %v, GGUF %v", cfg["add_bos_token"], meta["tokenizer.ggml.add_bos_token"])
	}
	if fmt.Sprint(cfg["model_max_length"]) != fmt.Sprint(g.HFConfig["max_position_embeddings"]) {
		t.Errorf("model_max_length %v", cfg["model_max_length"])
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// normJSON round-trips v through JSON so that values decoded in different
// ways (json.Number, float64, typed structs) compare with reflect.DeepEqual.
func normJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

type tinyGolden struct {
	HFConfig  map[string]any      `json:"hf_config"`
	HF        map[string]checksum `json:"hf"`
	VocabSize int                 `json:"vocab_size"`
}

// TestConvertTinyQwen2 converts the qwen2 model written by gguf-py's
// GGUFWriter (biases, F16/Q8_0/F32, untied lm_head, no permutation) into
// several shards, and compares with transformers' import.
func TestConvertTinyQwen2(t *testing.T) {
	var g tinyGolden
	readJSON(t, "testdata/tiny_qwen2_golden.json", &g)
	dir := filepath.Join(t.TempDir(), "qwen")
	if err := Convert("testdata/tiny_qwen2.gguf", dir, &ConvertOptions{MaxShardSize: 40 << 10}); err != nil {
		t.Fatal(err)
	}
	var index struct {
		Metadata  map[string]any    `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	readJSON(t, filepath.Join(dir, "model.safetensors.index.json"), &index)
	files := map[string]bool{}
	for _, f := range index.WeightMap {
		files[f] = true
	}
	if len(files) < 2 || len(index.WeightMap) != len(g.HF) {
		t.Errorf("%d shards holding %d tensors, want >= 2 holding %d", len(files), len(index.WeightMap), len(g.HF))
	}
	for f := range files {
		if !strings.HasSuffix(f, fmt.Sprintf("-of-%05d.safetensors", len(files))) {
			t.Errorf("shard name %s", f)
		}
	}
	ck, err := safetensors.OpenCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ck.Close()
	if len(ck.Names()) != len(g.HF) {
		t.Errorf("%d tensors, transformers %d", len(ck.Names()), len(g.HF))
	}
	stats := compareWeights(t, ck.Tensor, g.HF)
	t.Logf("vs transformers: max rel diff sum %.2g sumsq %.2g wsum %.2g, exact samples %v", stats.sum, stats.sumsq, stats.wsum, stats.exact)
	cfg := checkConfig(t, dir, g.HFConfig, nil)
	if cfg["architectures"].([]any)[0] != "Qwen2ForCausalLM" {
		t.Errorf("architectures %v", cfg["architectures"])
	}

	tf, byID := readTokenizer(t, dir)
	if len(byID) != g.VocabSize {
		t.Errorf("vocab %d, want %d", len(byID), g.VocabSize)
	}
	special := map[string]bool{}
	for _, a := range tf.AddedTokens {
		special[a["content"].(string)] = a["special"].(bool)
	}
	if want := map[string]bool{"<|endoftext|>": true, "<|im_start|>": true, "<|im_end|>": true, "<tool_call>": false}; !reflect.DeepEqual(special, want) {
		t.Errorf("added tokens %v, want %v (control: special, user-defined: not)", special, want)
	}
	if len(tf.Model.Merges) != 5 || tf.Model.Merges[2] != [2]string{"\u0120t", "he"} {
		t.Errorf("merges %q", tf.Model.Merges)
	}

	// The qwen2 pre-tokenizer and normalizer must be those of a real Qwen
	// tokenizer.json.
	t.Run("QwenAsset", func(t *testing.T) {
		var q struct {
			Normalizer   any `json:"normalizer"`
			PreTokenizer any `json:"pre_tokenizer"`
		}
		raw, err := os.ReadFile(testassets.Path(t, "qwen3/tokenizer.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &q); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normJSON(tf.PreTokenizer), normJSON(q.PreTokenizer)) {
			t.Errorf("pre_tokenizer\n got %v\nwant %v", tf.PreTokenizer, q.PreTokenizer)
		}
		if !reflect.DeepEqual(normJSON(tf.Normalizer), normJSON(q.Normalizer)) {
			t.Errorf("normalizer %v, want %v", tf.Normalizer, q.Normalizer)
		}
	})
}

// TestConvertDestination: a non-empty destination is refused (and left
// alone) without Force and replaced with it; a failed conversion leaves
// nothing behind.
func TestConvertDestination(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// An empty existing directory is fine.
	if err := Convert("testdata/tiny_qwen2.gguf", dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "model.safetensors")); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "marker")
	if err := os.WriteFile(marker, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := Convert("testdata/tiny_qwen2.gguf", dir, nil)
	if !errors.Is(err, ErrDirNotEmpty) {
		t.Fatalf("non-empty destination: err = %v, want ErrDirNotEmpty", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("refused conversion touched the directory: %v", err)
	}
	if err := Convert("testdata/tiny_qwen2.gguf", dir, &ConvertOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--force kept the old contents: %v", err)
	}
	// Failures: nothing at the destination, no temporary directory left.
	bad := filepath.Join(parent, "bad")
	err = Convert(synthPath, bad, nil)
	if err == nil || !strings.Contains(err.Error(), `architecture "synthetic" is not supported`) {
		t.Errorf("synthetic: err = %v", err)
	}
	if err := Convert("testdata/missing.gguf", bad, nil); err == nil {
		t.Errorf("missing input converted")
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 || entries[0].Name() != "out" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("left behind in %s: %v", parent, names)
	}
}

func TestPyFloat(t *testing.T) {
	// Python's json.dumps of the same floats.
	for _, c := range []struct {
		f    float64
		want string
	}{{100000, "100000.0"}, {1e-5, "1e-05"}, {1e6, "1000000.0"}, {0.02, "0.02"}, {0, "0.0"},
		{1e16, "1e+16"}, {1.5e-7, "1.5e-07"}, {-2.5, "-2.5"}, {0.0001, "0.0001"}} {
		b, err := pyFloat(c.f).MarshalJSON()
		if err != nil || string(b) != c.want {
			t.Errorf("pyFloat(%v) = %s, %v; want %s", c.f, b, err, c.want)
		}
	}
}
