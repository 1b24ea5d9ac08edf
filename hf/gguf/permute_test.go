package gguf

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// permuteRows is llama.cpp's permute written as numpy index arithmetic:
// w.reshape(n, 2, hd/2, C).swapaxes(1, 2) gives out[h, i, j, :] = w[h, j, i, :],
// and out's rows are then flattened back in (h, i, j) order.
func permuteRows(src []float32, heads, rowLen int) []float32 {
	rows := len(src) / rowLen
	hd := rows / heads
	out := make([]float32, 0, len(src))
	for h := 0; h < heads; h++ {
		for i := 0; i < hd/2; i++ {
			for j := 0; j < 2; j++ {
				r := h*hd + j*(hd/2) + i
				out = append(out, src[r*rowLen:(r+1)*rowLen]...)
			}
		}
	}
	return out
}

// TestUnpermuteMatchesLlamaCpp undoes the output of llama.cpp's own permute
// (testdata/permute.json, computed by the generator in numpy).
func TestUnpermuteMatchesLlamaCpp(t *testing.T) {
	var g struct {
		Cases []struct {
			Rows    int       `json:"rows"`
			Cols    int       `json:"cols"`
			NHead   int       `json:"n_head"`
			NHeadKV int       `json:"n_head_kv"`
			HF      []float32 `json:"hf"`
			GGUF    []float32 `json:"gguf"`
		} `json:"cases"`
	}
	readJSON(t, "testdata/permute.json", &g)
	if len(g.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range g.Cases {
		heads := c.NHead
		if c.NHeadKV != c.NHead {
			heads = c.NHeadKV // as llama.cpp: k_proj is permuted by its own head count
		}
		got := make([]float32, len(c.GGUF))
		unpermuteRows(got, c.GGUF, heads, c.Cols)
		if !slices.Equal(got, c.HF) {
			t.Errorf("rows %d cols %d heads %d/%d: unpermute(gguf) = %v, want %v", c.Rows, c.Cols, c.NHead, c.NHeadKV, got, c.HF)
		}
		if p := permuteRows(c.HF, heads, c.Cols); !slices.Equal(p, c.GGUF) {
			t.Errorf("rows %d: test permute disagrees with llama.cpp's: %v, want %v", c.Rows, p, c.GGUF)
		}
	}
}

// TestPermuteRoundTrip: permute∘unpermute and unpermute∘permute are the
// identity on random data, for several head counts, head sizes and row
// lengths, and the permutation is not the identity.
func TestPermuteRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ heads, hd, rowLen int }{{9, 64, 7}, {3, 64, 5}, {1, 2, 1}, {4, 8, 1}, {2, 16, 33}} {
		n := c.heads * c.hd * c.rowLen
		w := make([]float32, n)
		for i := range w {
			w[i] = rng.Float32()
		}
		p := permuteRows(w, c.heads, c.rowLen)
		back := make([]float32, n)
		unpermuteRows(back, p, c.heads, c.rowLen)
		if !slices.Equal(back, w) {
			t.Errorf("%+v: unpermute(permute(w)) != w", c)
		}
		u := make([]float32, n)
		unpermuteRows(u, w, c.heads, c.rowLen)
		if !slices.Equal(permuteRows(u, c.heads, c.rowLen), w) {
			t.Errorf("%+v: permute(unpermute(w)) != w", c)
		}
		if c.hd > 2 && slices.Equal(p, w) {
			t.Errorf("%+v: permutation is the identity", c)
		}
	}
}
