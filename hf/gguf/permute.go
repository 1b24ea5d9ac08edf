package gguf

// llama.cpp's convert_hf_to_gguf.py reorders the rows of Llama's q_proj and
// k_proj so that ggml's RoPE, which rotates adjacent pairs (x[2i], x[2i+1]),
// matches Hugging Face's rotate_half, which rotates (x[i], x[i+hd/2]):
//
//	permute(w, n_head, n_head_kv):
//	    n = n_head_kv if n_head_kv != n_head else n_head
//	    w.reshape(n, 2, hd/2, *rest).swapaxes(1, 2).reshape(w.shape)
//
// so GGUF row h*hd + 2i + j holds Hugging Face row h*hd + j*hd/2 + i, for
// head h < n, i < hd/2, j in {0, 1}, where hd = rows/n. (q_proj uses
// n = n_head, k_proj n = n_head_kv.)

// unpermuteRows undoes llama.cpp's permute: it writes to dst (Hugging Face
// order) the rows of src (GGUF order). Both hold rows*rowLen values with
// rows = len(src)/rowLen; heads must divide rows into heads of even size
// (checked by the caller). dst and src must not overlap.
func unpermuteRows(dst, src []float32, heads, rowLen int) {
	rows := len(src) / rowLen
	hd := rows / heads
	for h := 0; h < heads; h++ {
		for i := 0; i < hd/2; i++ {
			for j := 0; j < 2; j++ {
				to := (h*hd + j*hd/2 + i) * rowLen
				from := (h*hd + 2*i + j) * rowLen
				copy(dst[to:to+rowLen], src[from:from+rowLen])
			}
		}
	}
}
