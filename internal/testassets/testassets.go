// Package testassets finds the pinned real assets (third_party/cache, fetched
// by scripts/fetch-assets.sh) for tests.
//
// Under `make test` the Makefile sets NASHMD_ASSETS, and a missing asset
// fails the test. Under a plain `go test` without the cache, tests that need
// an asset are skipped with a message saying how to get it.
package testassets

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir is the asset cache: $NASHMD_ASSETS, or third_party/cache in this checkout.
func Dir() string {
	if d := os.Getenv("NASHMD_ASSETS"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "third_party", "cache")
}

// Path returns the asset at rel (e.g. "qwen3/tokenizer.json") inside Dir.
// It fails the test when the asset is missing and NASHMD_ASSETS is set, and
// skips it when NASHMD_ASSETS is not set.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(Dir(), rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("NASHMD_ASSETS") != "" {
			tb.Fatalf("asset %s missing (NASHMD_ASSETS=%s): run scripts/fetch-assets.sh: %v", rel, os.Getenv("NASHMD_ASSETS"), err)
		}
		tb.Skipf("asset %s not fetched: run `make assets` (make test does)", rel)
	}
	return p
}
