//go:build linux

// watch_test.go checks that what another controller does to a daemon is
// seen by a watching one through its pid dir watch, at once and without
// polling.

package launcher

import (
	"slices"
	"testing"
	"time"
)

// A second controller's start, stop, disable, enable and restart reach a
// watching Daemon by its Wake alone (no ticker), each within 10 ms (the
// median of a few rounds; it takes well under a millisecond here).
func TestWatchedDirSeenAtOnce(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "watched", "sleep")
	spec.StartSecs = -1
	a := newDaemon(t, spec) // the watcher
	b := newDaemon(t, spec) // another controller
	wake := a.Wake()
	// seen waits, by Wake only, until cond holds for a, and says how long
	// that took from now.
	seen := func(what string, do func() error, cond func() bool) time.Duration {
		t.Helper()
		start := time.Now()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		deadline := time.After(10 * time.Second)
		for !cond() {
			select {
			case <-wake:
				a.Poll(time.Now())
			case <-deadline:
				t.Fatalf("%s: the watcher never saw it: %+v", what, a.Status())
			}
		}
		return time.Since(start)
	}
	var took []time.Duration
	for range 5 {
		took = append(took,
			seen("start", func() error { return b.Start(nil) }, func() bool { return a.PID() != 0 && a.PID() == b.PID() }),
			seen("stop", func() error {
				b.Stop()
				waitState(t, b, Stopped)
				return nil
			}, func() bool { return a.State() == Stopped }),
			seen("disable", b.Disable, func() bool { return !a.IsEnabled() }),
			seen("enable", b.Enable, func() bool { return a.IsEnabled() }))
	}
	b.Start(nil)
	old := b.PID()
	took = append(took, seen("restart", func() error { return b.Restart(nil) }, func() bool {
		b.Poll(time.Now())
		return a.State() == Running && a.PID() != old && a.PID() == b.PID()
	}))
	slices.Sort(took)
	median := took[len(took)/2]
	t.Logf("seen in %v (median), %v at most", median, took[len(took)-1])
	if median > 10*time.Millisecond {
		t.Fatalf("a change took %v (median) to be seen; all: %v", median, took)
	}
}
