//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package gguf

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps the first size bytes of fd read-only and shared. size must be
// positive.
func mapFile(fd *os.File, size int) ([]byte, bool, error) {
	buf, err := syscall.Mmap(int(fd.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, false, fmt.Errorf("mmap: %w", err)
	}
	return buf, true, nil
}

// unmapFile releases a mapping made by mapFile.
func unmapFile(buf []byte) error { return syscall.Munmap(buf) }
