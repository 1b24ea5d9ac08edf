package safetensors_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/nashmd/nashmd/hf/safetensors"
)

func Example() {
	// Two float32 values and a 2x2 bfloat16 matrix, little-endian.
	tensors := []safetensors.Tensor{
		{Name: "bias", DType: safetensors.F32, Shape: []int64{2}, Data: []byte{0, 0, 0x80, 0x3f, 0, 0, 0, 0x40}},
		{Name: "weight", DType: safetensors.BF16, Shape: []int64{2, 2}, Data: []byte{0x80, 0x3f, 0, 0x40, 0x40, 0x40, 0x80, 0x40}},
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, tensors, map[string]string{"format": "pt"}); err != nil {
		log.Fatal(err)
	}

	f, err := safetensors.Parse(buf.Bytes())
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	for _, name := range f.Names() {
		t, err := f.Tensor(name)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(t.Name, t.DType, t.Shape, t.Numel(), len(t.Data))
	}
	fmt.Println(f.Metadata()["format"])
	// Output:
	// bias F32 [2] 2 8
	// weight BF16 [2 2] 4 8
	// pt
}
