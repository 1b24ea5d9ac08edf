package safetensors

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Index and single-file names used by transformers' save_pretrained.
const (
	indexFileName  = "model.safetensors.index.json"
	singleFileName = "model.safetensors"
	maxIndexLen    = 100 << 20
)

// Checkpoint is a model checkpoint: a single model.safetensors file, or
// shards listed by model.safetensors.index.json, which has the layout
//
//	{"metadata": {...}, "weight_map": {"tensor name": "model-00001-of-00002.safetensors", ...}}
//
// All files are opened (memory-mapped) by [OpenCheckpoint] and stay open
// until [Checkpoint.Close]. The methods are safe for concurrent use; Close
// invalidates the Data of every Tensor obtained from the Checkpoint.
type Checkpoint struct {
	path   string
	files  []*File
	byName map[string]*File
	names  []string

	mu     sync.RWMutex
	closed bool
}

// OpenCheckpoint opens the checkpoint at path, which is either
//   - a directory: it uses model.safetensors.index.json if present, else
//     model.safetensors;
//   - a file whose name ends in ".json": a shard index; shard names are
//     resolved in the index's directory;
//   - any other file: a single safetensors file.
//
// For a sharded checkpoint every weight_map file name must be a plain base
// name (no directory part, not "." or ".."), every shard must open and parse,
// every tensor in weight_map must be in its shard, and every tensor in a
// shard must be listed in weight_map for that shard (transformers would
// silently ignore an unlisted one). The index's "metadata" is not
// interpreted. Errors name the offending file and tensor.
func OpenCheckpoint(path string) (*Checkpoint, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if st.IsDir() {
		idx := filepath.Join(path, indexFileName)
		ok, err := exists(idx)
		if err != nil {
			return nil, fmt.Errorf("safetensors: %w", err)
		}
		if ok {
			return openIndex(idx)
		}
		single := filepath.Join(path, singleFileName)
		if ok, err = exists(single); err != nil {
			return nil, fmt.Errorf("safetensors: %w", err)
		}
		if ok {
			return openSingle(single)
		}
		return nil, fmt.Errorf("safetensors: %s: directory holds neither %s nor %s", path, indexFileName, singleFileName)
	}
	if strings.HasSuffix(path, ".json") {
		return openIndex(path)
	}
	return openSingle(path)
}

// exists reports whether path exists; errors other than "does not exist"
// (such as permission errors) are returned.
func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

func openSingle(path string) (*Checkpoint, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{path: path, files: []*File{f}, byName: make(map[string]*File)}
	for _, name := range f.names {
		c.byName[name] = f
	}
	c.names = slices.Clone(f.names)
	return c, nil
}

func openIndex(path string) (_ *Checkpoint, err error) {
	errf := func(format string, args ...any) error {
		return fmt.Errorf("safetensors: index %s: %s", path, fmt.Sprintf(format, args...))
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if st.Size() > maxIndexLen {
		return nil, errf("file of %d bytes exceeds the 100 MiB limit", st.Size())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	members, end, err := decodeObject(raw)
	if err != nil {
		return nil, errf("%v", err)
	}
	for i := end; i < int64(len(raw)); i++ {
		switch raw[i] {
		case ' ', '\t', '\n', '\r':
		default:
			return nil, errf("unexpected byte %q at offset %d after the JSON object", raw[i], i)
		}
	}
	var wmRaw []byte
	for _, m := range members {
		if m.key == "weight_map" {
			wmRaw = m.val
		}
	}
	if wmRaw == nil {
		return nil, errf("no \"weight_map\"")
	}
	wm, _, err := decodeObject(wmRaw)
	if err != nil {
		return nil, errf("weight_map: %v", err)
	}
	if len(wm) == 0 {
		return nil, errf("weight_map is empty")
	}
	weightMap := make(map[string]string, len(wm))
	var shardNames []string
	for _, m := range wm {
		shard, ok := jsonString(m.val)
		if !ok {
			return nil, errf("weight_map: tensor %q: shard is %s, not a string", m.key, abbrev(m.val))
		}
		if !plainFileName(shard) {
			return nil, errf("weight_map: tensor %q: shard %q is not a plain file name in the checkpoint directory", m.key, shard)
		}
		weightMap[m.key] = shard // decodeObject rejected duplicate keys
		if !slices.Contains(shardNames, shard) {
			shardNames = append(shardNames, shard)
		}
	}
	slices.Sort(shardNames)

	dir := filepath.Dir(path)
	c := &Checkpoint{path: path, byName: make(map[string]*File, len(weightMap))}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	shards := make(map[string]*File, len(shardNames))
	for _, s := range shardNames {
		f, err := openFile(filepath.Join(dir, s))
		if err != nil {
			return nil, errf("shard %q: %v", s, err)
		}
		c.files = append(c.files, f)
		shards[s] = f
	}
	for _, name := range sortedKeys(weightMap) {
		s := weightMap[name]
		f := shards[s]
		if !f.has(name) {
			return nil, errf("tensor %q listed in the index is missing from shard %q", name, s)
		}
		c.byName[name] = f
		c.names = append(c.names, name)
	}
	for _, s := range shardNames {
		for _, name := range shards[s].names {
			want, listed := weightMap[name]
			switch {
			case !listed:
				return nil, errf("shard %q holds tensor %q not listed in the index", s, name)
			case want != s:
				return nil, errf("shard %q holds tensor %q, which the index assigns to shard %q", s, name, want)
			}
		}
	}
	return c, nil
}

// plainFileName reports whether s names a file directly inside a directory:
// non-empty, no separator of any platform, not "." or "..", not absolute and
// without a volume name.
func plainFileName(s string) bool {
	return s != "" && s != "." && s != ".." &&
		!strings.ContainsAny(s, `/\`+"\x00") &&
		!filepath.IsAbs(s) && filepath.VolumeName(s) == "" &&
		filepath.Base(s) == s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Names returns the names of all tensors across all shards, sorted, in a new
// slice owned by the caller.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Tensor returns the named tensor from whichever shard holds it. As with
// [File.Tensor], its Data aliases the shard's memory, is read-only and is
// valid until [Checkpoint.Close].
func (c *Checkpoint) Tensor(name string) (Tensor, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return Tensor{}, fmt.Errorf("safetensors: checkpoint %s is closed", c.path)
	}
	f, ok := c.byName[name]
	if !ok {
		return Tensor{}, fmt.Errorf("safetensors: no tensor %q in checkpoint %s", name, c.path)
	}
	return f.Tensor(name)
}

// Close closes every file of the checkpoint, invalidating the Data of all
// tensors obtained from it. It is idempotent; later calls return nil.
func (c *Checkpoint) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, f := range c.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
