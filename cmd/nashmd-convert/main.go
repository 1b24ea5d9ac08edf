// Command nashmd-convert converts a GGUF model (llama.cpp's format) into a
// Hugging Face model directory with float32 safetensors weights.
//
// Usage:
//
//	nashmd-convert [--force] [--max-shard-size BYTES] model.gguf DIR
//
// DIR receives config.json, generation_config.json, tokenizer.json,
// tokenizer_config.json and model.safetensors (or shards with an index).
// It must not exist or be empty unless --force is given; nothing is written
// to DIR unless the conversion succeeds. Supported: architectures llama and
// qwen2, byte-level BPE tokenizers, tensor types F32, F16, BF16, Q4_0, Q4_1,
// Q5_0, Q5_1, Q8_0 and Q2_K..Q6_K.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nashmd/nashmd/hf/gguf"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is main with its arguments and error stream, returning the exit code.
func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("nashmd-convert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	force := fs.Bool("force", false, "replace DIR if it is not empty")
	maxShard := fs.Int64("max-shard-size", gguf.DefaultMaxShardSize, "largest safetensors file, in bytes of weights")
	every := fs.Int("progress-every", 25, "print a progress line every N tensors (0: none)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: nashmd-convert [flags] model.gguf DIR")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return 2
	}
	src, dir := fs.Arg(0), fs.Arg(1)
	start := time.Now()
	opts := &gguf.ConvertOptions{Force: *force, MaxShardSize: *maxShard}
	opts.Progress = func(done, total int, name string) {
		if *every > 0 && (done%*every == 0 || done == total) {
			fmt.Fprintf(stderr, "nashmd-convert: %d/%d tensors (%s), %.1fs\n", done, total, name, time.Since(start).Seconds())
		}
	}
	if err := gguf.Convert(src, dir, opts); err != nil {
		fmt.Fprintln(stderr, "nashmd-convert:", err)
		return 1
	}
	fmt.Fprintf(stderr, "nashmd-convert: wrote %s in %.1fs\n", dir, time.Since(start).Seconds())
	return 0
}
