//go:build linux

// scale_test.go checks that the cost of an event does not grow with the
// number of daemons: one exit among many is one waitid, and an idle Poll
// costs the same with 1 or 10 000 daemons.

package launcher

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startManaged adds n `sleep` daemons to a new Manager and runs them all.
func startManaged(tb testing.TB, n int, spec Spec) (*Manager, *watcher) {
	tb.Helper()
	dir := tb.TempDir()
	m := NewManager(Options{PIDDir: dir + "/run", LogDir: dir + "/log", EventBuffer: 4 * n})
	tb.Cleanup(func() {
		m.ForceStop()
		w := &watcher{t: tb, m: m}
		w.until("all stopped", func() bool { return allIn(m, Stopped) })
		m.Close()
	})
	for i := range n {
		s := spec
		s.Name = fmt.Sprintf("d%05d", i)
		if err := m.Add(s); err != nil {
			tb.Fatal(err)
		}
	}
	m.Start()
	w := &watcher{t: tb, m: m}
	w.until("all running", func() bool { return allIn(m, Running) })
	return m, w
}

func allIn(m *Manager, st State) bool {
	for _, s := range m.Status() {
		if s.State != st {
			return false
		}
	}
	return true
}

// One exit among 1000 daemons costs a constant number of waitid calls
// (it was one per daemon per Poll), and its replacement comes in the same
// Poll as the exit event.
func TestOneExitConstantWaitid(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 1000 processes")
	}
	const n = 1000
	m, w := startManaged(t, n, Spec{Command: []string{"sleep", "600"}, StartSecs: -1,
		Restart: RestartAlways, RestartDelay: time.Nanosecond, MaxRestartDelay: time.Nanosecond})
	for quiet := false; !quiet; { // take what was still on its way
		select {
		case <-m.Wake():
			m.Poll(time.Now())
		case <-m.Events():
		case <-time.After(50 * time.Millisecond):
			quiet = true
		}
	}
	var calls atomic.Int64
	orig := waitid
	waitid = func(idType, id int, info *unix.Siginfo, options int, rusage *unix.Rusage) error {
		calls.Add(1)
		return orig(idType, id, info, options, rusage)
	}
	t.Cleanup(func() { waitid = orig })
	victim := m.Daemon("d00500")
	old := victim.PID()
	if err := victim.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	polls := 0
	w.until("the replacement", func() bool {
		polls++
		return victim.State() != Stopped && victim.PID() != old && victim.PID() != 0
	})
	if got := calls.Load(); got > 3 {
		t.Fatalf("%d waitid calls for one exit among %d daemons (%d polls)", got, n, polls)
	}
}

// An idle Poll costs the same whatever the number of daemons.
func BenchmarkManagerPollIdle(b *testing.B) {
	for _, n := range []int{1, 1000, 10000} {
		b.Run(fmt.Sprintf("daemons=%d", n), func(b *testing.B) {
			if n > 1000 && !*long {
				b.Skip("-long starts 10 000 processes")
			}
			m, _ := startManaged(b, n, Spec{Command: []string{"sleep", "600"}, StartSecs: -1})
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				m.Poll(time.Now())
			}
		})
	}
}
