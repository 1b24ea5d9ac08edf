// Command mktiny writes the tiny example of examples/tiny.toml (see
// internal/tiny):
//
//	go run ./internal/tools/mktiny examples/tiny
package main

import (
	"fmt"
	"os"

	"github.com/nashmd/nashmd/internal/tiny"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: mktiny DIR")
		os.Exit(2)
	}
	if err := tiny.Write(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "mktiny:", err)
		os.Exit(1)
	}
}
