package judges

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

// diskCache keeps one JSON file per answered request under
// dir/<first two hex digits of the key>/<key>.json. An entry is written to
// a temporary file and renamed into place, so a reader sees a whole entry
// or none; an unreadable entry is a miss.
type diskCache struct{ dir string }

// cacheEntry is the content of one cache file. It holds no prompt, no
// completion and no key.
type cacheEntry struct {
	P      float64 `json:"p"`      // P(first shown ≻ second shown)
	Answer string  `json:"answer"` // the judge's text answer, truncated
	Model  string  `json:"model"`
}

// openDiskCache creates dir when needed and checks that it is writable.
func openDiskCache(dir string) (*diskCache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("judge: cache: %w", err)
	}
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("judge: cache: %w", err)
	}
	f.Close()
	os.Remove(f.Name())
	return &diskCache{dir: dir}, nil
}

func (c *diskCache) path(key string) string {
	return filepath.Join(c.dir, key[:2], key+".json")
}

// get returns the cached P for key. A missing entry is (0, false, nil); an
// unreadable one is (0, false, err).
func (c *diskCache) get(key string) (float64, bool, error) {
	data, err := os.ReadFile(c.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	var e cacheEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return 0, false, fmt.Errorf("%s: %w", c.path(key), err)
	}
	if !(e.P >= 0 && e.P <= 1) || math.IsNaN(e.P) {
		return 0, false, fmt.Errorf("%s: probability %v outside [0, 1]", c.path(key), e.P)
	}
	return e.P, true, nil
}

// put writes the entry for key atomically.
func (c *diskCache) put(key string, e cacheEntry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	sub := filepath.Dir(c.path(key))
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	f, err := os.CreateTemp(sub, ".tmp-*")
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cache: %w", err)
	}
	if err := os.Rename(f.Name(), c.path(key)); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}
