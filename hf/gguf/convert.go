package gguf

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/nashmd/nashmd/hf/safetensors"
)

// ErrDirNotEmpty reports a destination directory that already holds files
// (see [ConvertOptions.Force]).
var ErrDirNotEmpty = errors.New("gguf: destination directory is not empty")

// DefaultMaxShardSize bounds the float32 bytes per safetensors file when
// [ConvertOptions.MaxShardSize] is 0. Convert holds one shard in memory.
const DefaultMaxShardSize = 2 << 30

// ConvertOptions tunes [Convert]. The zero value is valid.
type ConvertOptions struct {
	// Force replaces a destination directory that is not empty. Without it
	// Convert fails with ErrDirNotEmpty before doing any work.
	Force bool
	// MaxShardSize is the largest number of weight bytes per safetensors
	// file (a single tensor larger than that gets a file of its own). With
	// more than one file, they are named model-0000K-of-0000N.safetensors
	// and listed in model.safetensors.index.json, as save_pretrained does.
	MaxShardSize int64
	// Progress, if not nil, is called after each tensor is decoded, with the
	// number done so far, the total and the tensor's Hugging Face name.
	Progress func(done, total int, name string)
}

// Convert converts the GGUF model at src into a Hugging Face model directory
// dir (see [ToHF]): config.json, generation_config.json, tokenizer.json,
// tokenizer_config.json and float32 safetensors weights.
//
// Everything is written to a temporary directory beside dir, which is renamed
// to dir only when complete: on error nothing is left at dir (an existing dir
// is untouched) and the temporary directory is removed.
func Convert(src, dir string, opts *ConvertOptions) (err error) {
	var o ConvertOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxShardSize <= 0 {
		o.MaxShardSize = DefaultMaxShardSize
	}
	dir = filepath.Clean(dir)
	if err := checkDest(dir, o.Force); err != nil {
		return err
	}
	f, err := Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := ToHF(f)
	if err != nil {
		return fmt.Errorf("%w (%s)", err, src)
	}

	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	for _, file := range []struct {
		name string
		data []byte
	}{{"config.json", m.Config}, {"generation_config.json", m.GenerationConfig},
		{"tokenizer.json", m.Tokenizer}, {"tokenizer_config.json", m.TokenizerConfig}} {
		if err := os.WriteFile(filepath.Join(tmp, file.name), file.data, 0o644); err != nil {
			return fmt.Errorf("gguf: %w", err)
		}
	}
	if err := writeWeights(m, tmp, o); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	return install(tmp, dir, o.Force)
}

// writeWeights writes m's tensors as float32 safetensors shards into dir.
func writeWeights(m *HFModel, dir string, o ConvertOptions) error {
	// Plan the shards first: their names carry the total count.
	var shards [][]HFTensor
	var size int64
	for _, t := range m.Tensors {
		n := 4 * t.Numel()
		if len(shards) == 0 || (size > 0 && size+n > o.MaxShardSize) {
			shards = append(shards, nil)
			size = 0
		}
		shards[len(shards)-1] = append(shards[len(shards)-1], t)
		size += n
	}
	weightMap := map[string]string{}
	var total int64
	done := 0
	for k, shard := range shards {
		name := "model.safetensors"
		if len(shards) > 1 {
			name = fmt.Sprintf("model-%05d-of-%05d.safetensors", k+1, len(shards))
		}
		tensors := make([]safetensors.Tensor, 0, len(shard))
		for _, t := range shard {
			v, err := m.Float32(t)
			if err != nil {
				return err
			}
			tensors = append(tensors, safetensors.Tensor{Name: t.Name, DType: safetensors.F32, Shape: t.Shape, Data: float32Bytes(v)})
			weightMap[t.Name] = name
			total += 4 * int64(len(v))
			done++
			if o.Progress != nil {
				o.Progress(done, len(m.Tensors), t.Name)
			}
		}
		if err := safetensors.WriteFile(filepath.Join(dir, name), tensors, map[string]string{"format": "pt"}); err != nil {
			return err
		}
	}
	if len(shards) > 1 {
		index := map[string]any{"metadata": map[string]any{"total_size": total}, "weight_map": weightMap}
		b, err := json.MarshalIndent(index, "", "  ")
		if err != nil {
			return fmt.Errorf("gguf: %w", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "model.safetensors.index.json"), append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("gguf: %w", err)
		}
	}
	return nil
}

// littleEndian reports whether this machine stores float32 little-endian, as
// safetensors does.
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// float32Bytes returns v's little-endian bytes: a view of v on little-endian
// machines, a copy elsewhere.
func float32Bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
	}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// checkDest fails if dir exists and is not an empty directory, unless force
// is set (then it must still be a directory).
func checkDest(dir string, force bool) error {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("gguf: %s exists and is not a directory", dir)
	}
	if force {
		return nil
	}
	empty, err := isEmptyDir(dir)
	if err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	if !empty {
		return fmt.Errorf("%w: %s (use --force to replace it)", ErrDirNotEmpty, dir)
	}
	return nil
}

func isEmptyDir(dir string) (bool, error) {
	d, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer d.Close()
	_, err = d.Readdirnames(1)
	if err == io.EOF {
		return true, nil
	}
	return false, err
}

// install renames the finished directory tmp to dir. An existing empty dir
// is replaced; a non-empty one only with force, and it is removed after the
// new one is in place.
func install(tmp, dir string, force bool) error {
	if err := checkDest(dir, force); err != nil {
		return err
	}
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.Rename(tmp, dir); err != nil {
			return fmt.Errorf("gguf: %w", err)
		}
		return nil
	}
	if err != nil || !st.IsDir() {
		return fmt.Errorf("gguf: %s: cannot replace: %v", dir, err)
	}
	old := tmp + ".old"
	if err := os.Rename(dir, old); err != nil {
		return fmt.Errorf("gguf: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.Rename(old, dir) // put the old directory back
		return fmt.Errorf("gguf: %w", err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("gguf: new model installed at %s, but removing the old one failed: %w", dir, err)
	}
	return nil
}
