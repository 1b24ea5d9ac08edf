package torch_test

import (
	"fmt"

	"github.com/nashmd/nashmd/torch"
)

// Create tensors from Go slices, compute in a Scope, read the result back.
func Example() {
	s := torch.NewScope()
	defer s.Close() // frees every tensor made through s

	logits := s.FromFloat32([]float32{1, 2, 3, 1, 1, 1}, 2, 3) // (B=2, V=3)
	ids := s.FromInt64([]int64{2, 0}, 2)                       // (B)
	logp := s.SelectiveLogSoftmax(logits, ids, 0)              // (B): log p(ids | logits)
	if err := s.Err(); err != nil {
		fmt.Println(err)
		return
	}
	v, _ := logp.Float32s()
	fmt.Printf("%v %.4f\n", logp.Shape(), v)

	s.Matmul(logits, logits) // (2, 3) @ (2, 3): a shape error
	fmt.Println(s.Err())
	// Output:
	// [2] [-0.4076 -1.0986]
	// torch: Matmul: mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)
}
