package tokenizer_test

import (
	"fmt"
	"log"

	"github.com/nashmd/nashmd/hf/tokenizer"
)

// SmolLM2's tokenizer (testdata/smollm2/tokenizer.json, converted from the
// model's GGUF by transformers). The expected output was checked against the
// tokenizers library.
func Example() {
	tok, err := tokenizer.Load("testdata/smollm2")
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("<|im_start|>user\nHello, world!<|im_end|>", false)
	fmt.Println(ids)
	fmt.Printf("%q\n", tok.Decode(ids, false))
	fmt.Printf("%q\n", tok.Decode(ids, true))
	// This file's post-processor puts <|im_start|> (id 1) before a sequence.
	fmt.Println(tok.Encode("Hello", true))
	// Output:
	// [1 4093 198 19556 28 905 17 2]
	// "<|im_start|>user\nHello, world!<|im_end|>"
	// "user\nHello, world!"
	// [1 19556]
}
