//go:build linux

// takeover_test.go: what a supervisor SIGKILLed leaves behind is finished
// by the one that takes its lease, and nobody names it as the supervisor.

package launcher

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// A supervisor SIGKILLed in the middle of a stop (the daemon ignores
// SIGTERM) leaves it running and wanted down: the standby that takes the
// lease finishes the stop, SIGKILL at StopTimeout included.
func TestStandbyFinishesStop(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "halfstopped", "deaf")
	spec.StartSecs = 20 * time.Millisecond
	spec.StopTimeout = 300 * time.Millisecond
	spec.Restart = RestartOnFailure
	b := startCtl(t, "supervise", spec, false, "LT_START=1")
	b.expect("B supervising", func(l string) bool { return strings.HasPrefix(l, `supervising "halfstopped"`) }, 20*time.Second)
	a := NewManager(Options{})
	t.Cleanup(func() { closeManager(t, a) })
	if err := a.Add(spec); err != nil {
		t.Fatal(err)
	}
	ad := daemonOf(a, spec.Name)
	var alog eventLog
	describe := func() string {
		return fmt.Sprintf("A supervises %v, status %+v, events %v; B said %q", a.Supervising(), ad.Status(), &alog, b.said())
	}
	drive(t, "A sees it running, supervised by B", []*Manager{a}, &alog, nil, nil,
		func() bool { return ad.State() == Running && ad.Status().Supervisor == b.pid }, describe)
	pid := ad.PID()
	waitFor(t, "the daemon to ignore SIGTERM", func() bool {
		b, _ := os.ReadFile(ad.LogFile())
		return strings.Contains(string(b), "deaf\n")
	}, describe)

	// A asks for the stop; B carries it out (SIGTERM, ignored) and is
	// killed before its StopTimeout.
	if err := a.Stop(spec.Name); err != nil {
		t.Fatal(err)
	}
	b.expect("B stopping it", func(l string) bool {
		ev, ok := parseEventLine(l)
		return ok && ev.to == "stopping"
	}, 20*time.Second)
	b.kill()
	took := time.Now()
	drive(t, "A takes the lease and finishes the stop", []*Manager{a}, &alog, nil, nil,
		func() bool { return ad.State() == Stopped }, describe)
	if !slices.Contains(a.Supervising(), spec.Name) {
		t.Errorf("A stopped it without the lease: %s", describe())
	}
	if pidAlive(pid) {
		t.Fatalf("pid %d still alive after the stop: %s", pid, describe())
	}
	if d := time.Since(took); d < spec.StopTimeout {
		t.Errorf("stopped %v after the takeover, before its StopTimeout %v: was SIGTERM ignored?", d, spec.StopTimeout)
	}
	evs := alog.all()
	if last := evs[len(evs)-1]; last.To != Stopped || last.Reason == ReasonCrashed || last.Reason == ReasonUnknownExit {
		t.Errorf("the finished stop ended as %v; events %v", last, &alog)
	}
	if st := ad.Status(); st.WantUp || st.NextRestart != (time.Time{}) {
		t.Errorf("after the stop: %+v, want it wanted down, no restart", st)
	}
}

// The shared record names a supervisor only while it holds the lease:
// after a SIGKILL a new look and a watching controller say nobody; after
// a clean Close the record itself says nobody.
func TestSupervisorGoneFromStatus(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "orphaned", "")
	spec.Command = []string{"sleep", "300"}
	spec.StartSecs = 20 * time.Millisecond
	b := startCtl(t, "supervise", spec, false, "LT_START=1")
	b.expect("B supervising", func(l string) bool { return strings.HasPrefix(l, `supervising "orphaned"`) }, 20*time.Second)
	b.expect("B running it", func(l string) bool {
		ev, ok := parseEventLine(l)
		return ok && ev.to == "running"
	}, 20*time.Second)
	w := newDaemon(t, spec) // a controller that watches
	if st := w.Status(); st.Supervisor != b.pid || st.State != Running {
		t.Fatalf("before: %+v, want running, supervised by %d", st, b.pid)
	}
	b.kill()
	waitFor(t, "the watcher to see no supervisor", func() bool {
		w.Poll(time.Now())
		return w.Status().Supervisor == 0
	}, func() string { return fmt.Sprintf("%+v", w.Status()) })
	if st := newDaemon(t, spec).Status(); st.Supervisor != 0 || st.State != Running {
		t.Errorf("a new look after the SIGKILL: %+v, want running, no supervisor", st)
	}

	// A Manager takes it over and closes: the record says nobody.
	m := NewManager(Options{})
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	if st := newDaemon(t, spec).Status(); st.Supervisor != os.Getpid() {
		t.Errorf("with a Manager here: %+v, want supervisor %d", st, os.Getpid())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	f := newFiles(spec)
	rec, err := f.readStatus()
	if err != nil || rec.Supervisor != 0 {
		t.Errorf("the record after a Close: %+v %v, want no supervisor", rec, err)
	}
	if st := newDaemon(t, spec).Status(); st.Supervisor != 0 {
		t.Errorf("a new look after the Close: %+v, want no supervisor", st)
	}
	w.ForceStop()
	waitState(t, w, Stopped)
}

// A standby and a controller that only looks cost nothing while the
// supervisor runs: looking at the lease wakes nobody. (Their looks used to
// be read-write opens, whose close woke every watcher of the dir, each of
// which looked again: a standby `up` spun at a core's worth of wake-ups.)
// When the supervisor goes, the standby still takes over.
func TestStandbyAndLookerIdle(t *testing.T) {
	t.Parallel()
	spec, sup, standby := supervisorAndStandby(t, "calm")
	supClosed := false
	t.Cleanup(func() {
		if !supClosed {
			sup.Close() // the standby's cleanup stops the daemon
		}
	})
	if got := standby.Supervising(); len(got) != 0 || len(sup.Supervising()) != 1 {
		t.Fatalf("supervising: first %v, second %v", sup.Supervising(), got)
	}
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	looker := newDaemon(t, spec)
	sd, bd := daemonOf(sup, spec.Name), daemonOf(standby, spec.Name)
	waitFor(t, "all three to see it running", func() bool {
		sup.Poll(time.Now())
		standby.Poll(time.Now())
		looker.Poll(time.Now())
		return sd.State() == Running && bd.State() == Running && looker.State() == Running
	}, func() string { return fmt.Sprintf("%+v / %+v / %+v", sd.Status(), bd.Status(), looker.Status()) })

	// Quiet now: over a window, each is woken a few times at most (what
	// the start left), not at the rate of its own looks.
	wakes := map[string]int{}
	window := time.After(500 * time.Millisecond)
	for done := false; !done; {
		select {
		case <-sup.Wake():
			wakes["supervisor"]++
			sup.Poll(time.Now())
		case <-standby.Wake():
			wakes["standby"]++
			standby.Poll(time.Now())
		case <-looker.Wake():
			wakes["looker"]++
			looker.Poll(time.Now())
		case <-sup.Events():
		case <-standby.Events():
		case <-window:
			done = true
		}
	}
	for who, n := range wakes {
		if n > 10 {
			t.Errorf("%s woken %d times in 500 ms of quiet (all: %v)", who, n, wakes)
		}
	}

	// The supervisor goes: the standby takes the lease, the looker names it.
	supClosed = true
	sup.Close() // leaves the daemon running
	waitFor(t, "the standby to take over", func() bool {
		standby.Poll(time.Now())
		looker.Poll(time.Now())
		return len(standby.Supervising()) == 1 && looker.Status().Supervisor == os.Getpid()
	}, func() string {
		return fmt.Sprintf("standby supervises %v; looker %+v", standby.Supervising(), looker.Status())
	})
}

// A Remove and Add of the same daemon (a reload of its new spec) keeps its
// lease: a standby does not take it in between. A Remove alone gives it up
// at the next Poll, and the standby takes it.
func TestReaddKeepsLease(t *testing.T) {
	t.Parallel()
	spec, sup, standby := supervisorAndStandby(t, "readd")
	t.Cleanup(func() { sup.Close() })
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	changed := spec
	changed.StopTimeout = 3 * time.Second
	if err := sup.Remove(spec.Name); err != nil {
		t.Fatal(err)
	}
	// The standby looks meanwhile (another up's loop would).
	for range 3 {
		standby.Poll(time.Now())
	}
	if err := sup.Add(changed); err != nil {
		t.Fatal(err)
	}
	if got := sup.Supervising(); len(got) != 1 {
		t.Fatalf("after Remove and Add: supervising %v", got)
	}
	// Both go on: the standby stays one, however often it is woken.
	d := daemonOf(standby, spec.Name)
	waitFor(t, "the standby to see it running", func() bool {
		sup.Poll(time.Now())
		standby.Poll(time.Now())
		return d.State() == Running && d.Status().Supervisor == os.Getpid()
	}, func() string { return fmt.Sprintf("%+v", d.Status()) })
	if got := standby.Supervising(); len(got) != 0 {
		t.Fatalf("the standby took the lease of a re-added daemon: %v", got)
	}
	// A Remove alone: given up at the next Poll, taken by the standby.
	if err := sup.Remove(spec.Name); err != nil {
		t.Fatal(err)
	}
	sup.Poll(time.Now())
	waitFor(t, "the standby to take it", func() bool {
		standby.Poll(time.Now())
		return len(standby.Supervising()) == 1
	}, func() string { return fmt.Sprintf("%+v", d.Status()) })
}

// supervisorAndStandby returns a `sleep` spec added to two Managers: the
// first supervises it, the second stands by. The standby's cleanup stops
// the daemon; the supervisor is the caller's to close (it leaves it running).
func supervisorAndStandby(t *testing.T, name string) (Spec, *Manager, *Manager) {
	t.Helper()
	spec := testSpec(t, name, "")
	spec.Command, spec.StartSecs = []string{"sleep", "300"}, -1
	sup, standby := NewManager(Options{}), NewManager(Options{})
	for _, m := range []*Manager{sup, standby} {
		if err := m.Add(spec); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { closeManager(t, standby) })
	return spec, sup, standby
}

// TestRolesChanged: the number a loop compares to know whether what
// Supervising returns may have changed moves with every Add and Remove,
// and when a standby takes a lease over from a supervisor that went, and
// only then: a Poll with nothing of the kind leaves it.
func TestRolesChanged(t *testing.T) {
	dir := t.TempDir()
	opts := Options{PIDDir: dir + "/run", LogDir: dir + "/log"}
	spec := Spec{Name: "a", Command: []string{"sleep", "600"}, StartSecs: -1}
	first := NewManager(opts)
	defer first.Close()
	if err := first.Add(spec); err != nil {
		t.Fatal(err)
	}
	second := newManager(t, opts)
	g0 := second.RolesChanged()
	if err := second.Add(spec); err != nil {
		t.Fatal(err)
	}
	g1 := second.RolesChanged()
	if g1 == g0 || len(second.Supervising()) != 0 {
		t.Fatalf("Add: roles %d -> %d, supervising %v (the first holds the lease)", g0, g1, second.Supervising())
	}
	second.Poll(time.Now())
	if g := second.RolesChanged(); g != g1 {
		t.Fatalf("a Poll with no change moved it: %d -> %d", g1, g)
	}
	first.Close() // its lease goes: the second takes it over
	w := &watcher{t: t, m: second}
	w.until("the standby supervises", func() bool { return slices.Contains(second.Supervising(), "a") })
	g2 := second.RolesChanged()
	if g2 == g1 {
		t.Fatalf("a takeover left it at %d", g1)
	}
	if err := second.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if g := second.RolesChanged(); g == g2 {
		t.Fatalf("Remove left it at %d", g2)
	}
}
