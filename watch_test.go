//go:build linux

// watch_test.go checks that what another controller does to a daemon is
// seen by a watching one through its pid dir watch, at once and without
// polling.

package launcher

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	a.Wake()                // its wake-up goroutine runs from the start
	// seen does the change through b, then waits, by Wake only, until cond
	// holds for a, and says how long that took from the moment the change
	// was in the pid dir (the time b's side took, a spawn or a process's
	// exit, is not the watcher's).
	seen := func(what string, do func() error, cond func() bool) time.Duration {
		t.Helper()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		start := time.Now()
		byWake(t, a, what, cond)
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
			seen("disable", func() error { return enabledAfter(b, b.Disable, false) }, func() bool { return !a.Status().Enabled }),
			seen("enable", func() error { return enabledAfter(b, b.Enable, true) }, func() bool { return a.Status().Enabled }))
	}
	b.Start(nil)
	old := b.PID()
	took = append(took, seen("restart", func() error { return b.Restart(nil) }, func() bool {
		b.Poll(time.Now())
		return a.State() == Running && a.PID() != old && a.PID() == b.PID()
	}))
	slices.Sort(took)
	median := took[len(took)/2]
	// The floor, in the same run: a change a bare inotify watch reports to
	// a goroutine blocked on it, as the Daemon's own goroutine is. On a
	// loaded machine both grow; the bound is 10 ms or five floors.
	floor := inotifyFloor(t)
	t.Logf("seen in %v (median), %v at most; a bare inotify wake-up takes %v", median, took[len(took)-1], floor)
	if median > max(10*time.Millisecond, 5*floor) {
		t.Fatalf("a change took %v (median) to be seen, the floor %v; all: %v", median, floor, took)
	}
}

// enabledAfter does change (d's Enable or Disable) and checks that d's
// Status says so at once, before any Poll.
func enabledAfter(d *Daemon, change func() error, want bool) error {
	if err := change(); err != nil {
		return err
	}
	if got := d.Status().Enabled; got != want {
		return fmt.Errorf("Status says enabled %v right after, want %v", got, want)
	}
	return nil
}

// inotifyFloor is the median time from a rename in a watched dir to a
// goroutine blocked in a read of the inotify fd running again.
func inotifyFloor(t *testing.T) time.Duration {
	dir := t.TempDir()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	const rounds = 15
	woke := make(chan time.Time)
	go func() { // one read per round, then done: the fd is closed after
		var buf [4096]byte
		for range rounds {
			if n, err := unix.Read(fd, buf[:]); n <= 0 || err != nil {
				break
			}
			woke <- time.Now()
		}
		close(woke)
	}()
	var ds []time.Duration
	for i := range rounds {
		tmp := fmt.Sprintf("%s/.t%d", dir, i)
		os.WriteFile(tmp, nil, 0o644)
		start := time.Now()
		os.Rename(tmp, fmt.Sprintf("%s/f%d", dir, i))
		at, ok := <-woke
		if !ok {
			t.Fatal("the inotify reader stopped")
		}
		ds = append(ds, at.Sub(start))
	}
	<-woke // closed: the reader is done
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// byWake polls a, woken by its Wake alone (no ticker), until cond holds or
// 10 s pass.
func byWake(t *testing.T, a *Daemon, what string, cond func() bool) {
	t.Helper()
	wake := a.Wake()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-wake:
			a.Poll(time.Now())
		case <-deadline:
			t.Fatalf("%s: not seen by the watcher: %+v", what, a.Status())
		}
	}
}

// A pid dir that does not exist when the watcher is made, made later by
// another controller, then removed and made again, is watched all along:
// the watcher sees the other's start, disable and enable (also a
// .disabled renamed away, by hand) by its Wake alone.
func TestWatchedDirMadeLater(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "late", "sleep")
	spec.StartSecs = -1
	spec.PIDDir += "/sub" // missing: its parent is watched meanwhile
	a := newDaemon(t, spec)
	b := newDaemon(t, spec)
	for round := range 2 {
		what := func(s string) string { return fmt.Sprintf("round %d: %s", round, s) }
		if err := b.Start(nil); err != nil { // makes the dir
			t.Fatal(err)
		}
		byWake(t, a, what("start"), func() bool { return a.State() == Running && a.PID() == b.PID() })
		if err := b.Disable(); err != nil {
			t.Fatal(err)
		}
		byWake(t, a, what("disable"), func() bool { return !a.Status().Enabled })
		if err := os.Rename(spec.PIDDir+"/late.disabled", spec.PIDDir+"/late.disabled.bak"); err != nil {
			t.Fatal(err)
		}
		byWake(t, a, what("disabled renamed away"), func() bool { return a.Status().Enabled })
		b.Stop()
		waitState(t, b, Stopped)
		byWake(t, a, what("stop"), func() bool { return a.State() == Stopped })
		if err := os.RemoveAll(spec.PIDDir); err != nil { // gone: watched through its parent again
			t.Fatal(err)
		}
	}
}

// Where not even the pid dir's parent exists, nothing can tell when the
// disabled mark changes: Status looks at it itself.
func TestEnabledWithoutAWatch(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "deep", "sleep")
	spec.PIDDir += "/a/b"
	a := newDaemon(t, spec)
	b := newDaemon(t, spec)
	if err := b.Disable(); err != nil { // makes the dirs
		t.Fatal(err)
	}
	if a.Status().Enabled {
		t.Errorf("another controller's Disable: the watcher's Status says enabled")
	}
}

// A pid dir removed while a file in it is held open (a daemon's lock, a
// supervisor's lease: the kernel then says nothing of the dir itself until
// the last close) and made again is watched again: seen by a lock removed
// with it.
func TestWatchedDirRemovedWhileHeld(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "x", "sleep")
	spec.StartSecs = -1
	other := spec
	other.Name = "other"
	o := newDaemon(t, other)
	if err := o.Start(nil); err != nil { // its process holds other.lock in the dir
		t.Fatal(err)
	}
	waitState(t, o, Running)
	a := newDaemon(t, spec) // the watcher
	b := newDaemon(t, spec) // another controller
	if err := os.RemoveAll(spec.PIDDir); err != nil {
		t.Fatal(err)
	}
	byWake(t, a, "the dir removed", func() bool { return !a.flag(flagDirWatched) })
	if err := b.Start(nil); err != nil { // makes the dir again
		t.Fatal(err)
	}
	byWake(t, a, "a start in the dir made again", func() bool { return a.State() == Running && a.PID() == b.PID() })
}

// A pid dir removed and made again before the watcher looked, or given
// with a trailing slash, or missing under a pid dir that is removed and
// made again: each is watched, and a start there seen.
func TestWatchedDirRemadeOddly(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"remade before a look", "trailing slash", "under a pid dir remade"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			spec := testSpec(t, "x", "sleep")
			spec.StartSecs = -1
			run := spec.PIDDir
			switch how {
			case "trailing slash":
				spec.PIDDir += "/sub/"
			case "under a pid dir remade":
				spec.PIDDir += "/sub"
				parent := spec
				parent.Name, parent.PIDDir = "p", run
				newDaemon(t, parent) // watches run, with its own owner
			}
			a := newDaemon(t, spec)
			if how == "under a pid dir remade" {
				// a's own owner watches run for sub; run removed and made
				// again, then sub made in it
				if err := os.RemoveAll(run); err != nil {
					t.Fatal(err)
				}
				a.Poll(time.Now())
				if err := os.Mkdir(run, 0o755); err != nil {
					t.Fatal(err)
				}
				a.Poll(time.Now())
			}
			if how == "remade before a look" {
				a.Poll(time.Now())
				if err := os.RemoveAll(run); err != nil {
					t.Fatal(err)
				}
				if err := os.Mkdir(run, 0o755); err != nil {
					t.Fatal(err)
				}
				a.Poll(time.Now()) // reads the removal: the dir is there again
			}
			b := newDaemon(t, spec)
			if err := b.Start(nil); err != nil {
				t.Fatal(err)
			}
			byWake(t, a, how, func() bool { return a.State() == Running && a.PID() == b.PID() })
		})
	}
}

// After Close nothing keeps the enabled mark up to date: Status reads it.
func TestEnabledAfterClose(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "x", "sleep")
	a, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	b := newDaemon(t, spec)
	if err := b.Disable(); err != nil {
		t.Fatal(err)
	}
	if a.Status().Enabled {
		t.Errorf("disabled by another controller after Close: Status says enabled")
	}
}

// A supervising Manager whose pid dir is removed (its lease, held open in
// it, keeps the kernel from saying so) gives up that lease, watches the
// dir made again, takes the lease there, and sees a start made there:
// it kept the lease of a removed file, which no standby could see, and saw
// nothing more.
func TestSupervisorOfARemovedDir(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	spec := Spec{Name: "x", Func: "sleep", StartSecs: -1}
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	x := daemonOf(m, "x")
	spec.PIDDir, spec.LogDir = x.spec.PIDDir, x.spec.LogDir
	m.Poll(time.Now())
	if err := os.RemoveAll(spec.PIDDir); err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, m: m}
	w.until("the lease given up", func() bool { return !slices.Contains(m.Supervising(), "x") })
	b := newDaemon(t, spec)
	if err := b.Start(nil); err != nil { // makes the dir again
		t.Fatal(err)
	}
	w.until("the start seen and the lease taken again", func() bool {
		return x.State() == Running && x.PID() == b.PID() && slices.Contains(m.Supervising(), "x")
	})
}
