//go:build !linux

// random_other.go fills tokens from crypto/rand where there is no
// getrandom(2) to call directly (see random_linux.go).

package launcher

import "crypto/rand"

// randomFill fills b from the system's random source.
func randomFill(b []byte) { _, _ = rand.Read(b) } // never fails (Go 1.24+)
