package gguf_test

import (
	"fmt"
	"log"

	"github.com/nashmd/nashmd/hf/gguf"
)

// Open a GGUF file, read metadata and decode a quantised tensor. ggml lists
// dims innermost first; Shape is the row-major (PyTorch) order.
func Example() {
	f, err := gguf.Open("testdata/synthetic.gguf")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	arch, _ := f.Str("general.architecture")
	t, _ := f.Tensor("q6_k.mat")
	v, err := f.Dequantize(t.Name)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(arch, f.Alignment, t.Type, t.Dims, t.Shape(), len(v))
	_, err = f.Dequantize("iq4_nl.mat")
	fmt.Println(err)
	// Output:
	// synthetic 64 Q6_K [512 3] [3 512] 1536
	// gguf: tensor "iq4_nl.mat": dequantising IQ4_NL is not supported
}
