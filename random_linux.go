// random_linux.go fills tokens from getrandom(2) directly: crypto/rand
// draws from the same source, but brings fifteen packages whose init every
// command of the CLI paid for (0.03–0.1 ms of a `launcher version`).

package launcher

import "golang.org/x/sys/unix"

// randomFill fills b from the kernel's random source. It panics only if
// getrandom fails otherwise than by an interruption, which it does not
// since Linux 3.17 (ENOSYS before).
func randomFill(b []byte) {
	for n := 0; n < len(b); {
		k, err := unix.Getrandom(b[n:], 0)
		if err != nil && err != unix.EINTR {
			panic("launcher: getrandom: " + err.Error())
		}
		n += max(k, 0)
	}
}
