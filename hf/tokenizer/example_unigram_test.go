package tokenizer_test

import (
	"fmt"
	"log"

	"github.com/nashmd/nashmd/hf/tokenizer"
)

// A SentencePiece Unigram tokenizer in DeBERTa-v3's layout
// (testdata/unigram/spm.model, trained by testdata/gen_unigram.py). Without a
// tokenizer.json beside it, Load builds what transformers'
// DebertaV2TokenizerFast makes of it. The expected output was checked against
// the tokenizers library (and, for the native encoding, sentencepiece).
func ExampleLoadSentencePiece() {
	tok, err := tokenizer.LoadSentencePiece("testdata/unigram/spm.model", tokenizer.SentencePieceOptions{})
	if err != nil {
		log.Fatal(err)
	}
	ids := tok.Encode("Hello,  wörld! ＡＢＣ①", true) // [CLS] ... [SEP]
	fmt.Println(ids)
	fmt.Printf("%q\n", tok.Decode(ids, false))
	fmt.Printf("%q\n", tok.Decode(ids, true))

	native, err := tokenizer.LoadSentencePiece("testdata/unigram/spm.model", tokenizer.SentencePieceOptions{Native: true})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(native.Encode("Hello,  wörld! ＡＢＣ①", false))
	// Output:
	// [1 59 52 5 269 871 334 171 9 342 316 2]
	// "[CLS] Hello, wörld! ABC1[SEP]"
	// "Hello, wörld! ABC1"
	// [59 52 5 269 871 334 171 9 342 316]
}
