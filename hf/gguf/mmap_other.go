//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package gguf

import (
	"fmt"
	"io"
	"os"
)

// mapFile reads the first size bytes of fd into memory: this platform has
// no syscall.Mmap, so the File owns an ordinary heap copy.
func mapFile(fd *os.File, size int) ([]byte, bool, error) {
	buf := make([]byte, size)
	if _, err := io.ReadFull(fd, buf); err != nil {
		return nil, false, fmt.Errorf("read: %w", err)
	}
	return buf, false, nil
}

// unmapFile is never called on this platform (mapFile reports mapped=false).
func unmapFile(buf []byte) error { return nil }
