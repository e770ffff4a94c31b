//go:build !linux

// Command launcher-bench measures launcher against the spawn floor; it
// needs Linux (pidfds).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "launcher-bench: Linux only")
	os.Exit(1)
}
