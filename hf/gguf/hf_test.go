package gguf

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// A small Llama GGUF assembled in Go, to exercise ToHF's checks. Its values
// are arbitrary; what is tested is which files are accepted and what the
// errors say.

type testKV struct {
	key string
	typ ValueType
	val []byte // encoded value
}

type testTensor struct {
	name string
	typ  TensorType
	dims []uint64
}

func kvStr(k, v string) testKV {
	return testKV{k, TypeString, (&builder{}).str(v).b}
}
func kvU32(k string, v uint32) testKV { return testKV{k, TypeUint32, (&builder{}).u32(v).b} }
func kvF32(k string, v float32) testKV {
	return testKV{k, TypeFloat32, (&builder{}).u32(math.Float32bits(v)).b}
}
func kvBool(k string, v bool) testKV {
	b := byte(0)
	if v {
		b = 1
	}
	return testKV{k, TypeBool, []byte{b}}
}
func kvStrs(k string, v ...string) testKV {
	w := (&builder{}).u32(uint32(TypeString)).u64(uint64(len(v)))
	for _, s := range v {
		w.str(s)
	}
	return testKV{k, TypeArray, w.b}
}
func kvI32s(k string, v ...int32) testKV {
	w := (&builder{}).u32(uint32(TypeInt32)).u64(uint64(len(v)))
	for _, x := range v {
		w.u32(uint32(x))
	}
	return testKV{k, TypeArray, w.b}
}

// buildGGUF writes a GGUF v3 file; tensor data is zero.
func buildGGUF(kvs []testKV, tensors []testTensor) []byte {
	w := header(uint64(len(tensors)), uint64(len(kvs)))
	for _, kv := range kvs {
		w.str(kv.key).u32(uint32(kv.typ)).raw(kv.val...)
	}
	off := uint64(0)
	for _, t := range tensors {
		w.tensor(t.name, t.typ, off, t.dims...)
		n := uint64(1)
		for _, d := range t.dims {
			n *= d
		}
		size := n / uint64(t.typ.BlockSize()) * uint64(t.typ.BlockBytes())
		off += (size + 31) / 32 * 32
	}
	return w.data(int(off))
}

// llamaFile returns the metadata and tensors of a one-layer Llama with
// hidden 32, 2 heads of 16, 1 KV head, ffn 64 and a 6-token vocabulary.
func llamaFile() ([]testKV, []testTensor) {
	kvs := []testKV{
		kvStr("general.architecture", "llama"),
		kvU32("llama.block_count", 1),
		kvU32("llama.context_length", 128),
		kvU32("llama.embedding_length", 32),
		kvU32("llama.feed_forward_length", 64),
		kvU32("llama.attention.head_count", 2),
		kvU32("llama.attention.head_count_kv", 1),
		kvF32("llama.attention.layer_norm_rms_epsilon", 1e-6),
		kvF32("llama.rope.freq_base", 500000),
		kvStr("tokenizer.ggml.model", "gpt2"),
		kvStr("tokenizer.ggml.pre", "llama-bpe"),
		kvStrs("tokenizer.ggml.tokens", "a", "b", "ab", "\u0120", "<|begin_of_text|>", "<|eot_id|>"),
		kvI32s("tokenizer.ggml.token_type", 1, 1, 1, 1, 3, 3),
		kvStrs("tokenizer.ggml.merges", "a b"),
		kvU32("tokenizer.ggml.bos_token_id", 4),
		kvU32("tokenizer.ggml.eos_token_id", 5),
	}
	tensors := []testTensor{
		{"token_embd.weight", F32, []uint64{32, 6}},
		{"blk.0.attn_norm.weight", F32, []uint64{32}},
		{"blk.0.attn_q.weight", F32, []uint64{32, 32}},
		{"blk.0.attn_k.weight", F32, []uint64{32, 16}},
		{"blk.0.attn_v.weight", F32, []uint64{32, 16}},
		{"blk.0.attn_output.weight", F32, []uint64{32, 32}},
		{"blk.0.ffn_norm.weight", F32, []uint64{32}},
		{"blk.0.ffn_gate.weight", F32, []uint64{32, 64}},
		{"blk.0.ffn_up.weight", F32, []uint64{32, 64}},
		{"blk.0.ffn_down.weight", F32, []uint64{64, 32}},
		{"output_norm.weight", F32, []uint64{32}},
	}
	return kvs, tensors
}

func setKV(kvs []testKV, kv testKV) []testKV {
	for i := range kvs {
		if kvs[i].key == kv.key {
			kvs[i] = kv
			return kvs
		}
	}
	return append(kvs, kv)
}

func dropKV(kvs []testKV, key string) []testKV {
	var out []testKV
	for _, kv := range kvs {
		if kv.key != key {
			out = append(out, kv)
		}
	}
	return out
}

func toHF(t *testing.T, kvs []testKV, tensors []testTensor) (*HFModel, error) {
	t.Helper()
	f, err := Parse(buildGGUF(kvs, tensors))
	if err != nil {
		t.Fatalf("test file does not parse: %v", err)
	}
	return ToHF(f)
}

func TestToHFLlama(t *testing.T) {
	kvs, tensors := llamaFile()
	kvs = append(kvs, kvStr("llama.rope.scaling.type", "linear"), kvF32("llama.rope.scaling.factor", 2),
		kvU32("llama.rope.dimension_count", 16))
	m, err := toHF(t, kvs, tensors)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(m.Config, &cfg); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"head_dim": 16.0, "rms_norm_eps": 1e-6, "rope_theta": 500000.0,
		"tie_word_embeddings": true, "num_key_value_heads": 1.0, "vocab_size": 6.0, "bos_token_id": 4.0} {
		if cfg[k] != want {
			t.Errorf("config %s = %v, want %v", k, cfg[k], want)
		}
	}
	if rs, _ := cfg["rope_scaling"].(map[string]any); rs["rope_type"] != "linear" || rs["factor"] != 2.0 {
		t.Errorf("rope_scaling %v", cfg["rope_scaling"])
	}
	if !strings.Contains(string(m.Config), `"rope_theta": 500000.0`) {
		t.Errorf("rope_theta not written as a float: %s", m.Config)
	}
	heads := map[string]int{}
	for _, tn := range m.Tensors {
		heads[tn.Name] = tn.Heads
	}
	if heads["model.layers.0.self_attn.q_proj.weight"] != 2 || heads["model.layers.0.self_attn.k_proj.weight"] != 1 ||
		heads["model.layers.0.self_attn.v_proj.weight"] != 0 {
		t.Errorf("permutation heads %v", heads)
	}
	// llama-bpe: llama.cpp adds BOS by default and ignores merges.
	var tok struct {
		PostProcessor map[string]any `json:"post_processor"`
		Model         map[string]any `json:"model"`
	}
	if err := json.Unmarshal(m.Tokenizer, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.PostProcessor["type"] != "TemplateProcessing" || tok.Model["ignore_merges"] != true {
		t.Errorf("post_processor %v, ignore_merges %v", tok.PostProcessor["type"], tok.Model["ignore_merges"])
	}
	var tc map[string]any
	if err := json.Unmarshal(m.TokenizerConfig, &tc); err != nil {
		t.Fatal(err)
	}
	if tc["bos_token"] != "<|begin_of_text|>" || tc["add_bos_token"] != true || tc["eos_token"] != "<|eot_id|>" {
		t.Errorf("tokenizer_config %v", tc)
	}
}

func TestToHFErrors(t *testing.T) {
	drop := func(name string) func([]testKV, []testTensor) ([]testKV, []testTensor) {
		return func(kvs []testKV, ts []testTensor) ([]testKV, []testTensor) {
			var out []testTensor
			for _, x := range ts {
				if x.name != name {
					out = append(out, x)
				}
			}
			return kvs, out
		}
	}
	addTensor := func(x testTensor) func([]testKV, []testTensor) ([]testKV, []testTensor) {
		return func(kvs []testKV, ts []testTensor) ([]testKV, []testTensor) { return kvs, append(ts, x) }
	}
	withKV := func(kv testKV) func([]testKV, []testTensor) ([]testKV, []testTensor) {
		return func(kvs []testKV, ts []testTensor) ([]testKV, []testTensor) { return setKV(kvs, kv), ts }
	}
	withoutKV := func(key string) func([]testKV, []testTensor) ([]testKV, []testTensor) {
		return func(kvs []testKV, ts []testTensor) ([]testKV, []testTensor) { return dropKV(kvs, key), ts }
	}
	for _, c := range []struct {
		name string
		edit func([]testKV, []testTensor) ([]testKV, []testTensor)
		want string
	}{
		{"missing tensor", drop("blk.0.ffn_up.weight"), "missing tensors: blk.0.ffn_up.weight"},
		{"some biases", addTensor(testTensor{"blk.0.attn_q.bias", F32, []uint64{32}}), "missing tensors: blk.0.attn_k.bias, blk.0.attn_v.bias, blk.0.attn_output.bias"},
		{"stray bias", addTensor(testTensor{"blk.0.attn_k.bias", F32, []uint64{16}}), `"blk.0.attn_k.bias": llama has biases only on []`},
		{"ffn bias", addTensor(testTensor{"blk.0.ffn_up.bias", F32, []uint64{64}}), "a bias on ffn_up is not supported"},
		{"unknown tensor", addTensor(testTensor{"blk.0.attn_qkv.weight", F32, []uint64{32, 64}}), `"blk.0.attn_qkv.weight" has no Hugging Face name`},
		{"layer beyond count", addTensor(testTensor{"blk.1.attn_norm.weight", F32, []uint64{32}}), "beyond llama.block_count"},
		{"rope_freqs", addTensor(testTensor{"rope_freqs.weight", F32, []uint64{8}}), `"rope_freqs.weight"`},
		{"unsupported type", addTensor(testTensor{"output.weight", IQ4_NL, []uint64{32, 6}}), `tensor "output.weight": dequantising IQ4_NL is not supported`},
		{"wrong shape", func(k []testKV, ts []testTensor) ([]testKV, []testTensor) {
			k, ts = drop("blk.0.attn_k.weight")(k, ts)
			return k, append(ts, testTensor{"blk.0.attn_k.weight", F32, []uint64{32, 32}})
		}, `"blk.0.attn_k.weight" has dims [32 32]`},
		{"architecture", withKV(kvStr("general.architecture", "gemma")), `architecture "gemma" is not supported`},
		{"missing key", withoutKV("llama.embedding_length"), "missing metadata key llama.embedding_length"},
		{"key type", withKV(kvStr("llama.block_count", "one")), "llama.block_count has type string"},
		{"kv heads", withKV(kvU32("llama.attention.head_count_kv", 3)), "not a multiple of head_count_kv 3"},
		{"partial rotary", withKV(kvU32("llama.rope.dimension_count", 8)), "partial rotary"},
		{"rope scaling", withKV(kvStr("llama.rope.scaling.type", "longrope")), `"longrope" is not supported`},
		{"tokenizer model", withKV(kvStr("tokenizer.ggml.model", "llama")), `tokenizer.ggml.model "llama" is not supported`},
		{"no tokenizer", withoutKV("tokenizer.ggml.model"), "carries no tokenizer"},
		{"pre", withKV(kvStr("tokenizer.ggml.pre", "default")), `tokenizer.ggml.pre "default" is not supported (supported: gpt-2`},
		{"no pre", withoutKV("tokenizer.ggml.pre"), "no tokenizer.ggml.pre"},
		{"bos id", withKV(kvU32("tokenizer.ggml.bos_token_id", 6)), "tokenizer.ggml.bos_token_id = 6 is not a token id"},
		{"duplicate token", withKV(kvStrs("tokenizer.ggml.tokens", "a", "b", "a", "\u0120", "<|begin_of_text|>", "<|eot_id|>")), `tokenizer.ggml.tokens[2] = "a" duplicates token 0`},
		{"token types", withKV(kvI32s("tokenizer.ggml.token_type", 1, 1)), "token_type must be an int32 array of 6"},
		{"merge", withKV(kvStrs("tokenizer.ggml.merges", "ab")), `merges[0] = "ab" has no space`},
		{"add bos without id", func(k []testKV, ts []testTensor) ([]testKV, []testTensor) {
			return dropKV(k, "tokenizer.ggml.bos_token_id"), ts
		}, "add_bos_token is set but there is no bos_token_id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			kvs, tensors := c.edit(llamaFile())
			_, err := toHF(t, kvs, tensors)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// TestFloat32Unpermute checks HFModel.Float32 on a q projection whose GGUF
// rows are numbered: row r of the Hugging Face tensor must come from GGUF
// row (r's pair position), per llama.cpp's permutation.
func TestFloat32Unpermute(t *testing.T) {
	kvs, tensors := llamaFile()
	raw := buildGGUF(kvs, tensors)
	f, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := f.Tensor("blk.0.attn_q.weight")
	data := raw[f.DataOffset+q.Offset:]
	for r := 0; r < 32; r++ { // 32 rows of 32: value = GGUF row index
		for c := 0; c < 32; c++ {
			binary.LittleEndian.PutUint32(data[4*(32*r+c):], math.Float32bits(float32(r)))
		}
	}
	m, err := ToHF(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range m.Tensors {
		if tn.GGUFName != q.Name {
			continue
		}
		v, err := m.Float32(tn)
		if err != nil {
			t.Fatal(err)
		}
		// 2 heads of 16: HF row h*16 + j*8 + i comes from GGUF row h*16 + 2i + j.
		for h := 0; h < 2; h++ {
			for j := 0; j < 2; j++ {
				for i := 0; i < 8; i++ {
					if got, want := v[32*(h*16+j*8+i)], float32(h*16+2*i+j); got != want {
						t.Fatalf("HF row %d holds GGUF row %v, want %v", h*16+j*8+i, got, want)
					}
				}
			}
		}
		return
	}
	t.Fatal("no q projection")
}

// TestAddBOSKey: tokenizer.ggml.add_bos_token overrides the pre-tokenizer
// type's default (llama-bpe adds BOS unless told not to).
func TestAddBOSKey(t *testing.T) {
	kvs, tensors := llamaFile()
	m, err := toHF(t, append(kvs, kvBool("tokenizer.ggml.add_bos_token", false)), tensors)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		PostProcessor map[string]any `json:"post_processor"`
	}
	if err := json.Unmarshal(m.Tokenizer, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.PostProcessor["type"] != "ByteLevel" {
		t.Errorf("post_processor %v, want ByteLevel (no BOS)", tok.PostProcessor)
	}
	if !strings.Contains(string(m.TokenizerConfig), `"add_bos_token": false`) {
		t.Errorf("tokenizer_config: %s", m.TokenizerConfig)
	}
}

// TestLlamaAttentionBias: q/k/v/o biases together make attention_bias true;
// the q and k biases are un-permuted like their weights.
func TestLlamaAttentionBias(t *testing.T) {
	kvs, tensors := llamaFile()
	tensors = append(tensors, testTensor{"blk.0.attn_q.bias", F32, []uint64{32}}, testTensor{"blk.0.attn_k.bias", F32, []uint64{16}},
		testTensor{"blk.0.attn_v.bias", F32, []uint64{16}}, testTensor{"blk.0.attn_output.bias", F32, []uint64{32}})
	m, err := toHF(t, kvs, tensors)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(m.Config), `"attention_bias": true`) {
		t.Errorf("config: %s", m.Config)
	}
	for _, tn := range m.Tensors {
		if tn.Name == "model.layers.0.self_attn.k_proj.bias" && (tn.Heads != 1 || len(tn.Shape) != 1 || tn.Shape[0] != 16) {
			t.Errorf("%+v", tn)
		}
	}
}
