// initreap_linux.go: up --init makes itself the reaper of orphans.

package main

import "golang.org/x/sys/unix"

// becomeSubreaper makes the orphans among this process's descendants its
// children (PR_SET_CHILD_SUBREAPER), rather than the system init's, for it
// to reap: what PID 1 of a container is already.
func becomeSubreaper() error {
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}
