//go:build linux

// watchdir_test.go checks watchdir_linux.go against what the third
// adversarial review of it found: ancestors' watches kept, rechecks lost,
// ancestors removed unsaid, steps made before a look, and (drive.go) the
// give-up note of an observer that saw the daemon run.

package launcher

import (
	"os"
	"slices"
	"sort"
	"syscall"
	"testing"
	"time"
)

// hubWatches lists the dirs the owner's hub has an inotify watch on.
func hubWatches(d *Daemon) []string {
	d.own.mu.Lock()
	defer d.own.mu.Unlock()
	var ds []string
	for _, w := range d.own.hub.wds {
		ds = append(ds, w.dir)
	}
	sort.Strings(ds)
	return ds
}

// A missing pid dir made one level at a time (or at once): once it is
// watched, the watches of the ancestors it waited through are dropped,
// and changes there wake nobody.
func TestAncestorWatchDropped(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"one level", "mkdir -p", "one deep"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			spec := testSpec(t, "x", "sleep")
			root := spec.PIDDir
			spec.PIDDir = root + "/a/b/c"
			if how == "one deep" {
				spec.PIDDir = root + "/a"
			}
			a := newDaemon(t, spec)
			if got := hubWatches(a); !slices.Equal(got, []string{root}) {
				t.Fatalf("before: %v", got)
			}
			if how == "one level" {
				for _, p := range []string{"/a", "/a/b"} {
					if err := os.Mkdir(root+p, 0o755); err != nil {
						t.Fatal(err)
					}
					byWake(t, a, "step "+p, func() bool { return slices.Contains(hubWatches(a), root+p) })
				}
				if err := os.Mkdir(spec.PIDDir, 0o755); err != nil {
					t.Fatal(err)
				}
			} else if err := os.MkdirAll(spec.PIDDir, 0o755); err != nil {
				t.Fatal(err)
			}
			byWake(t, a, "made", func() bool { return a.flag(flagDirWatched) })
			if got := hubWatches(a); !slices.Equal(got, []string{spec.PIDDir}) {
				t.Errorf("watches once the pid dir is watched: %v, want only %s", got, spec.PIDDir)
			}
			for drained := false; !drained; { // what the watches dropped left (IN_IGNORED)
				select {
				case <-a.Wake():
					a.Poll(time.Now())
				default:
					drained = true
				}
			}
			wakes := 0
			for i := range 20 {
				os.WriteFile(root+"/unrelated"+string(rune('a'+i)), nil, 0o644)
				select {
				case <-a.Wake():
					wakes++
					a.Poll(time.Now())
				case <-time.After(20 * time.Millisecond):
				}
			}
			if wakes > 0 {
				t.Errorf("%d wake-ups for 20 unrelated files made in %s", wakes, root)
			}
		})
	}
}

// Two pid dirs removed one after the other (rm -rf A B), the events read
// in two rounds: A's files (its lease, a lock held open) then, after the
// round's look at A, A itself and B's lock. A is still looked at again at
// 5/50/500 ms, and its removal seen.
func TestRechecksOfTwoDirs(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	sx, sy := testSpec(t, "x", "sleep"), testSpec(t, "y", "sleep")
	for _, s := range []Spec{sx, sy} {
		if err := m.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{sx.PIDDir, sy.PIDDir} {
		f, err := os.Create(dir + "/held.lock") // held open, as a daemon holds its lock
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
	}
	m.Poll(time.Now())
	ents, _ := os.ReadDir(sx.PIDDir)
	for _, e := range ents { // rm -rf A: its files first (x.sup, the held lock) ...
		os.Remove(sx.PIDDir + "/" + e.Name())
	}
	m.Poll(time.Now())                           // looks at A at once: still there
	if err := os.Remove(sx.PIDDir); err != nil { // ... then A, pinned by the open files
		t.Fatal(err)
	}
	os.Remove(sy.PIDDir + "/held.lock")
	m.Poll(time.Now()) // B's look replaces A's
	x := m.daemon("x")
	wake := m.Wake()
	deadline := time.After(10 * time.Second)
	for x.flag(flagDirWatched) {
		select {
		case <-wake:
			m.Poll(time.Now())
		case <-deadline:
			t.Fatalf("the pid dir of x removed 10 s ago: still counted as watched")
		}
	}
}

// rm -rf of a dir that holds two pid dirs of one Manager: one with a
// running daemon (its lock held open, which pins the removed dirs), one
// missing (waited for through that dir). Both are watched again once made
// again.
func TestPinnedAncestorRemoved(t *testing.T) {
	t.Parallel()
	so := testSpec(t, "other", "sleep")
	so.StartSecs = -1
	run := so.PIDDir
	so.PIDDir = run + "/other"
	sx := so
	sx.Name, sx.PIDDir = "x", run+"/x"
	m := newManager(t, Options{})
	for _, s := range []Spec{so, sx} {
		if err := m.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Start("other"); err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, m: m}
	w.until("running", func() bool { return m.daemon("other").State() == Running })
	killAtCleanup(t, m.daemon("other").PID())
	o, x := m.daemon("other"), m.daemon("x")
	if err := os.RemoveAll(sx.PIDDir); err != nil { // x: waits through run now
		t.Fatal(err)
	}
	w.until("x: its dir lost", func() bool { return !x.flag(flagDirWatched) })
	if err := os.RemoveAll(run); err != nil {
		t.Fatal(err)
	}
	w.until("other: its dir lost", func() bool { return !o.flag(flagDirWatched) })
	if err := os.MkdirAll(sx.PIDDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(so.PIDDir, 0o755); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for !x.flag(flagDirWatched) || !o.flag(flagDirWatched) {
		select {
		case <-m.Wake():
			m.Poll(time.Now())
		case <-m.Events():
		case <-deadline:
			m.own.mu.Lock()
			var ws []string
			for _, w := range m.own.hub.wds {
				ws = append(ws, w.dir)
			}
			m.own.mu.Unlock()
			t.Fatalf("10 s after both dirs were made again: x watched %v, other watched %v; watches %v",
				x.flag(flagDirWatched), o.flag(flagDirWatched), ws)
		}
	}
}

// A missing pid dir run/sub waited for through run: run removed, then run
// and sub made (mkdir -p) before the watcher looks. A start in sub is seen.
func TestAncestorRemadeWithTheStep(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "x", "sleep")
	spec.StartSecs = -1
	run := spec.PIDDir
	spec.PIDDir += "/sub"
	a := newDaemon(t, spec)
	if err := os.RemoveAll(run); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(spec.PIDDir, 0o755); err != nil {
		t.Fatal(err)
	}
	a.Poll(time.Now()) // reads the removal of run: run/sub is there already
	b := newDaemon(t, spec)
	if err := b.Start(nil); err != nil {
		t.Fatal(err)
	}
	killAtCleanup(t, b.PID())
	deadline := time.After(10 * time.Second)
	for !(a.State() == Running && a.PID() == b.PID()) {
		select {
		case <-a.Wake():
			a.Poll(time.Now())
		case <-deadline:
			t.Fatalf("a start in run/sub not seen in 10 s: watched %v, %+v", a.flag(flagDirWatched), a.Status())
		}
	}
}

// An observer that saw the daemon running, and is polled again only once
// its supervisor gave up (after two crashes it did not see), hears the
// give-up.
func TestObserverThatSawItRunningHearsTheGiveUp(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "crashy", "sleep")
	m := newManager(t, Options{})
	w, observer, heard := seenThenGivenUp(t, m, spec)
	heard = hearGiveUp(t, observer, heard)
	if n := len(slices.DeleteFunc(slices.Clone(heard), func(ev Event) bool { return !isGaveUp(ev) })); n != 1 {
		t.Errorf("%d gave-up notes: %v", n, heard)
	}
	var mine []Event
	for _, ev := range w.events {
		if ev.Reason == ReasonGaveUp {
			mine = append(mine, ev)
		}
	}
	if len(mine) != 1 {
		t.Errorf("the supervisor said gave-up %d times: %v", len(mine), w.events)
	}
}

// A standby Manager polled all along (it sees the crashes) and the
// supervisor: each says gave-up once.
func TestGaveUpOnceEach(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "crashy", "fail")
	spec.StartSecs = time.Second
	spec.Restart, spec.RestartDelay, spec.MaxRestarts = RestartOnFailure, time.Millisecond, 1
	m := newManager(t, Options{})
	m2 := newManager(t, Options{})
	for _, x := range []*Manager{m, m2} {
		if err := x.Add(spec); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	var e1, e2 []Event
	deadline := time.After(10 * time.Second)
	settled := time.Time{}
	for settled.IsZero() || time.Since(settled) < time.Second {
		if settled.IsZero() && m.Status()[0].GaveUp && m2.Status()[0].GaveUp {
			settled = time.Now()
		}
		select {
		case <-m.Wake():
			m.Poll(time.Now())
		case <-m2.Wake():
			m2.Poll(time.Now())
		case ev := <-m.Events():
			e1 = append(e1, ev)
		case ev := <-m2.Events():
			e2 = append(e2, ev)
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no give-up: %v / %v", e1, e2)
		}
	}
	count := func(evs []Event) (n int) {
		for _, ev := range evs {
			if ev.Reason == ReasonGaveUp {
				n++
			}
		}
		return n
	}
	if count(e1) != 1 || count(e2) != 1 {
		t.Errorf("gave-up: supervisor %d, standby %d\n%v\n%v", count(e1), count(e2), e1, e2)
	}
	t.Logf("standby: %v", e2)
}

// A pid dir P of one owner, holding another owner's pid dir P/n with a
// running daemon (its lock pins P too): rm -rf P, then a start in P made
// again is seen by the first owner.
func TestPinnedByNestedOtherOwner(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "y", "sleep")
	spec.StartSecs = -1
	nested := spec
	nested.Name, nested.PIDDir = "n", spec.PIDDir+"/n"
	m := newManager(t, Options{})
	if err := m.Add(nested); err != nil {
		t.Fatal(err)
	}
	if err := m.Start("n"); err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, m: m}
	w.until("running", func() bool { return m.daemon("n").State() == Running })
	killAtCleanup(t, m.daemon("n").PID())
	a := newDaemon(t, spec) // watches P only
	a.Poll(time.Now())
	if err := os.RemoveAll(spec.PIDDir); err != nil {
		t.Fatal(err)
	}
	a.Poll(time.Now())
	b := newDaemon(t, spec)
	if err := b.Start(nil); err != nil {
		t.Fatal(err)
	}
	killAtCleanup(t, b.PID())
	byWake(t, a, "a start in the dir made again", func() bool { return a.State() == Running && a.PID() == b.PID() })
}

// An observer that saw the daemon run reads the give-up together with a
// start by a lone controller after the supervisor closed: the gave-up
// note is not said later for the lone controller's own stop.
func TestOwedGaveUpStale(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "crashy", "sleep")
	m := newManager(t, Options{}) // its cleanup stops what it started, should the test end early
	_, observer, heard := seenThenGivenUp(t, m, spec)
	m.Close()
	s2 := spec
	s2.Restart, s2.RestartDelay, s2.MaxRestarts = RestartOnFailure, time.Millisecond, 1
	s2.Restart = RestartNever
	l := newDaemon(t, s2)
	if err := l.Start(nil); err != nil {
		t.Fatal(err)
	}
	killAtCleanup(t, l.PID())
	heard = append(heard, observer.Poll(time.Now())...)
	byWake(t, observer, "the lone start", func() bool { return observer.State() == Running && observer.PID() == l.PID() })
	mark := len(heard)
	l.Stop()
	waitState(t, l, Stopped)
	wake := observer.Wake()
	deadline := time.After(10 * time.Second)
	for observer.State() != Stopped {
		select {
		case <-wake:
			heard = append(heard, observer.Poll(time.Now())...)
		case <-deadline:
			t.Fatalf("stop not seen")
		}
	}
	for _, ev := range heard[mark:] {
		if ev.Reason == ReasonGaveUp {
			t.Errorf("gave-up note for a stop asked for: %v (all: %v)", ev, heard)
		}
	}
}

// seenThenGivenUp has m supervise spec (restarted once on failure, then
// given up), has observer (a Daemon of the same spec) see it run, and
// kills it until m gives up, observer not polled meanwhile. It returns
// m's watcher, observer, and what observer heard until it saw it run.
func seenThenGivenUp(t *testing.T, m *Manager, spec Spec) (*watcher, *Daemon, []Event) {
	t.Helper()
	spec.Restart, spec.RestartDelay, spec.MaxRestarts = RestartOnFailure, time.Millisecond, 1
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, m: m}
	w.until("running", func() bool { return m.Status()[0].State == Running })
	observer := newDaemon(t, spec)
	heard := observer.Poll(time.Now())
	byWake(t, observer, "running", func() bool { return observer.State() == Running })
	for range 2 {
		pid := m.Status()[0].PID
		syscall.Kill(pid, syscall.SIGKILL)
		w.until("the crash", func() bool { st := m.Status()[0]; return st.PID != pid || st.GaveUp })
		w.until("running or given up", func() bool { st := m.Status()[0]; return st.State == Running || st.GaveUp })
	}
	w.until("gave up", func() bool { return m.Status()[0].GaveUp })
	return w, observer, heard
}
