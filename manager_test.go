//go:build linux

package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newManager returns a Manager with dirs under t.TempDir() whose cleanup
// kills every daemon it has (by pidfd), polls them to Stopped and closes it.
func newManager(t *testing.T, opts Options) *Manager {
	t.Helper()
	dir := t.TempDir()
	if opts.PIDDir == "" {
		opts.PIDDir, opts.LogDir = dir+"/run", dir+"/log"
	}
	m := NewManager(opts)
	t.Cleanup(func() {
		m.ForceStop()
		for _, d := range m.Daemons() {
			waitState(t, d, Stopped)
		}
		m.Close()
	})
	return m
}

// watcher drives a Manager the way a caller's select loop does: Poll only
// when Wake fires, and collect what comes on Events.
type watcher struct {
	t      testing.TB
	m      *Manager
	events []Event
	wakes  int
}

// until runs the loop until cond holds, failing at the deadline with the
// events seen.
func (w *watcher) until(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-w.m.Wake():
			w.wakes++
			w.m.Poll(time.Now())
		case ev := <-w.m.Events():
			w.events = append(w.events, ev)
		case <-deadline:
			w.t.Fatalf("timed out waiting for %s; status %+v; events %v", what, w.m.Status(), w.events)
		}
	}
	// Take what is already on the channel.
	for {
		select {
		case ev := <-w.m.Events():
			w.events = append(w.events, ev)
		default:
			return
		}
	}
}

func (w *watcher) state(name string, want State) func() bool {
	return func() bool { return daemonOf(w.m, name).State() == want }
}

func (w *watcher) of(name string) []Event {
	var evs []Event
	for _, e := range w.events {
		if e.Daemon == name {
			evs = append(evs, e)
		}
	}
	return evs
}

func TestManagerOrderAndEvents(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	for _, s := range []Spec{
		{Name: "db", Func: "sleep", StartSecs: 30 * time.Millisecond},
		{Name: "app", Func: "sleep", StartSecs: 30 * time.Millisecond, After: []string{"db"}},
		{Name: "web", Func: "sleep", StartSecs: 30 * time.Millisecond, After: []string{"app"}},
	} {
		if err := m.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	// After may name a daemon not added yet (TestManagerAfterAnyOrder).
	if err := m.Add(Spec{Name: "x", Func: "sleep", After: []string{"nope"}}); err != nil {
		t.Fatalf("Add with After naming a daemon not added yet = %v", err)
	}
	if err := m.Remove("x"); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(Spec{Name: "y", Func: "sleep", After: []string{"y"}}); err == nil {
		t.Fatal("Add with a self cycle succeeded")
	}
	w := &watcher{t: t, m: m}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	w.until("all running", func() bool {
		return w.state("db", Running)() && w.state("app", Running)() && w.state("web", Running)()
	})
	// app starts only after db runs, web only after app.
	idx := func(name string, to State) int {
		return slices.IndexFunc(w.events, func(e Event) bool { return e.Daemon == name && e.To == to })
	}
	if !(idx("db", Running) < idx("app", Starting) && idx("app", Running) < idx("web", Starting)) {
		t.Fatalf("start order wrong: %v", w.events)
	}
	m.Stop()
	w.until("all stopped", func() bool {
		return w.state("db", Stopped)() && w.state("app", Stopped)() && w.state("web", Stopped)()
	})
	if !(idx("web", Stopped) < idx("app", Stopping) && idx("app", Stopped) < idx("db", Stopping)) {
		t.Fatalf("stop order wrong: %v", w.events)
	}
	for _, name := range []string{"db", "app", "web"} {
		for i, e := range w.of(name) {
			if e.Seq != uint64(i+1) {
				t.Fatalf("%s: event %d has Seq %d: %v", name, i, e.Seq, w.of(name))
			}
		}
	}
	st := m.Status()
	if len(st) != 3 || st[0].Name != "app" || st[0].WantUp {
		t.Fatalf("status %+v", st)
	}
}

// A crash loop: restarts slow down as configured, then the Manager gives
// up; the loop costs little CPU.
func TestManagerCrashLoopBackoffAndGiveUp(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{Jitter: func() float64 { return 0.5 }}) // no jitter: ×1.0
	spec := Spec{Name: "crashy", Command: []string{"sh", "-c", "exit 3"}, StartSecs: -1, Restart: RestartOnFailure,
		RestartDelay: 40 * time.Millisecond, MaxRestartDelay: 160 * time.Millisecond, MaxRestarts: 4}
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	var ru0 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	w := &watcher{t: t, m: m}
	m.Start("crashy")
	w.until("gave up", func() bool {
		return slices.ContainsFunc(w.events, func(e Event) bool { return e.Reason == ReasonGaveUp })
	})
	var starts []time.Time
	var stops []time.Time
	for _, e := range w.events {
		if e.To == Starting {
			starts = append(starts, e.Time)
		}
		if e.To == Stopped && e.From != Stopped {
			stops = append(stops, e.Time)
		}
	}
	if len(starts) != 5 {
		t.Fatalf("%d starts, want 1 + MaxRestarts 4: %v", len(starts), w.events)
	}
	want := []time.Duration{40, 80, 160, 160}
	for i := 1; i < len(starts); i++ {
		gap := starts[i].Sub(stops[i-1])
		if gap < want[i-1]*time.Millisecond {
			t.Errorf("restart %d after %v, want at least %vms", i, gap, want[i-1])
		}
	}
	for _, e := range w.of("crashy")[1:] {
		if e.To == Starting && e.Reason != ReasonBackoff {
			t.Errorf("supervisor start with reason %v", e.Reason)
		}
	}
	st := m.Status()[0]
	if !st.GaveUp || st.State != Stopped || st.Restarts != 4 {
		t.Fatalf("status %+v", st)
	}
	var ru1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	t.Logf("controller CPU during the crash loop: %v over %v, %d wake-ups", cpu, stops[len(stops)-1].Sub(starts[0]), w.wakes)
	if w.wakes > 50 {
		t.Errorf("%d wake-ups for 5 starts: the loop spins", w.wakes)
	}
	// Started by hand again, it runs the loop afresh.
	if err := m.Start("crashy"); err != nil {
		t.Fatal(err)
	}
	if st := m.Status()[0]; st.GaveUp {
		t.Fatalf("still gave up after Start: %+v", st)
	}
}

// kill -9 of a running daemon: the Manager learns it through the pidfd (no
// polling) and starts a replacement at once.
func TestManagerRestartsKilledDaemon(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	if err := m.Add(Spec{Name: "victim", Func: "sleep", StartSecs: -1, Restart: RestartAlways, RestartDelay: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, m: m}
	m.Start()
	w.until("running", w.state("victim", Running))
	first := daemonOf(m, "victim").PID()
	if err := daemonOf(m, "victim").Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w.until("replacement running", func() bool {
		d := daemonOf(m, "victim")
		return d.State() == Running && d.PID() != first
	})
	evs := w.of("victim")
	crash := slices.IndexFunc(evs, func(e Event) bool { return e.Reason == ReasonCrashed })
	if crash < 0 || evs[crash].Exit == nil || evs[crash].Exit.Signal != syscall.SIGKILL {
		t.Fatalf("events %v, want a crash by SIGKILL", evs)
	}
}

// With nothing happening, the Manager makes no wake-ups.
func TestManagerIdleNoWakeups(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	for i := range 5 {
		m.Add(Spec{Name: fmt.Sprint("idle", i), Command: []string{"sleep", "300"}, StartSecs: -1})
	}
	w := &watcher{t: t, m: m}
	m.Start()
	w.until("all running", func() bool {
		for _, st := range m.Status() {
			if st.State != Running {
				return false
			}
		}
		return true
	})
	// Wake-ups made before everything settled (a timer that fired just
	// before the last Poll disarmed it) may still come: take them, then
	// expect none.
	for settled := 0; settled < 5; settled++ {
		m.Poll(time.Now())
		select {
		case <-m.Wake():
			continue
		case <-time.After(100 * time.Millisecond):
		}
		break
	}
	select {
	case <-m.Wake():
		t.Fatal("woken while idle")
	case <-time.After(300 * time.Millisecond): // an absence can only be waited out
	}
}

// The wanted state lives on disk: a later Manager adopts what runs and
// starts what was wanted up but died while no Manager ran.
func TestManagerWantedStateSurvives(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := Options{PIDDir: dir + "/run", LogDir: dir + "/log"}
	specs := []Spec{
		{Name: "keeps", Func: "sleep", StartSecs: -1},
		{Name: "dies", Func: "sleep", StartSecs: -1},
		{Name: "down", Func: "sleep", StartSecs: -1},
	}
	m1 := NewManager(opts)
	for _, s := range specs {
		m1.Add(s)
	}
	w1 := &watcher{t: t, m: m1}
	m1.Start("keeps", "dies")
	w1.until("running", func() bool { return w1.state("keeps", Running)() && w1.state("dies", Running)() })
	keeps, dies := daemonOf(m1, "keeps").PID(), daemonOf(m1, "dies").PID()
	m1.Close() // the daemons live on
	t.Cleanup(func() { reapOrphan(t, keeps); reapOrphan(t, dies) })
	if err := unix.Kill(dies, syscall.SIGKILL); err != nil { // our own child, by its pid
		t.Fatal(err)
	}
	waitFor(t, "the killed daemon to be dead", func() bool { return !pidAlive(dies) }, func() string { return "alive" })

	m2 := newManager(t, opts)
	for _, s := range specs {
		if err := m2.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	w2 := &watcher{t: t, m: m2}
	w2.until("both wanted up running again", func() bool {
		d := daemonOf(m2, "dies")
		return w2.state("keeps", Running)() && d.State() == Running && d.PID() != dies
	})
	if daemonOf(m2, "keeps").PID() != keeps {
		t.Fatalf("keeps was not adopted: pid %d, was %d", daemonOf(m2, "keeps").PID(), keeps)
	}
	if daemonOf(m2, "down").State() != Stopped {
		t.Fatal("a daemon never wanted up was started")
	}
	if b, _ := os.ReadFile(filepath.Join(opts.PIDDir, "down.want")); len(b) != 0 {
		t.Fatalf("down.want = %q", b)
	}
}

// A disabled daemon is never restarted.
func TestManagerDisabledNotRestarted(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	m.Add(Spec{Name: "off", Func: "sleep", StartSecs: -1, Restart: RestartAlways, RestartDelay: time.Millisecond})
	w := &watcher{t: t, m: m}
	m.Start()
	w.until("running", w.state("off", Running))
	m.Disable("off")
	daemonOf(m, "off").Signal(syscall.SIGKILL)
	w.until("stopped", w.state("off", Stopped))
	// A backoff of 1ms has long passed by the next wake-ups; nothing starts.
	m.Poll(time.Now().Add(time.Second))
	if st := daemonOf(m, "off").State(); st != Stopped {
		t.Fatalf("disabled daemon is %v", st)
	}
	if err := m.Start("off"); err == nil {
		t.Fatal("Start of a disabled daemon succeeded")
	}
}

// Readiness messages wake the Manager: with only Wake-driven Polls, a
// READY=1 daemon becomes running (there is no timer to fall back on).
func TestManagerReadinessWakes(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	if err := m.Add(Spec{Name: "sd", Func: "notify", Ready: ReadyNotify}); err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, m: m}
	m.Start()
	w.until("running", w.state("sd", Running))
	if st := m.Status()[0]; st.StatusText != "serving" || st.State != Running {
		t.Fatalf("status %+v", st)
	}
}

func TestManagerRun(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	m.Add(Spec{Name: "r", Command: []string{"sleep", "300"}, StartSecs: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	m.Start()
	for ev := range m.Events() {
		if ev.To == Running {
			break
		}
	}
	cancel()
	var evs []Event
	for ev := range m.Events() { // Run delivers the stop's events, then returns
		evs = append(evs, ev)
		if ev.To == Stopped {
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil once all are stopped", err)
	}
	if st := daemonOf(m, "r").State(); st != Stopped || evs[len(evs)-1].Reason != ReasonRequested {
		t.Fatalf("after Run: %v, events %v", st, evs)
	}
}

// Shutdown stops what the Manager supervises and waits; a daemon that
// ignores its stop signal gets SIGKILL at its StopTimeout.
func TestManagerShutdown(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{EventBuffer: 1}) // a lagging consumer: events wait, nothing spins
	m.Add(Spec{Name: "polite", Func: "sleep", StartSecs: -1})
	m.Add(Spec{Name: "deaf", Func: "stubborn", StartSecs: -1, StopTimeout: 200 * time.Millisecond})
	w := &watcher{t: t, m: m}
	m.Start()
	w.until("running", func() bool { return allIn(m, Running) })
	waitFor(t, "stubborn's ready line", func() bool {
		b, _ := os.ReadFile(daemonOf(m, "deaf").LogFile())
		return strings.Contains(string(b), "ready")
	}, func() string { return "" })
	start := time.Now()
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !allIn(m, Stopped) || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("Shutdown returned after %v with %+v", time.Since(start), m.Status())
	}
	// The events wait, in order, for the consumer: each Poll hands on what
	// fits in the channel.
	var reasons []string
	waitFor(t, "the stop events", func() bool {
		m.Poll(time.Now())
		for {
			select {
			case ev := <-m.Events():
				if ev.To == Stopped {
					reasons = append(reasons, ev.Daemon+":"+ev.Reason.String())
				}
				continue
			default:
			}
			return len(reasons) >= 2
		}
	}, func() string { return fmt.Sprint(reasons) })
	slices.Sort(reasons)
	if strings.Join(reasons, " ") != "deaf:stop-timeout polite:requested" {
		t.Fatalf("stop events %v", reasons)
	}
}

// A run longer than ResetAfter resets the backoff and the restart count,
// so a daemon that fails only now and then is never given up on.
func TestManagerResetAfterStableRun(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{Jitter: func() float64 { return 0.5 }})
	m.Add(Spec{Name: "flaky", Command: []string{"sh", "-c", "sleep 0.2; exit 1"}, StartSecs: -1,
		Restart: RestartOnFailure, RestartDelay: 10 * time.Millisecond, ResetAfter: 100 * time.Millisecond, MaxRestarts: 1})
	w := &watcher{t: t, m: m}
	m.Start()
	w.until("three restarts", func() bool { return m.Status()[0].Restarts >= 3 })
	if slices.ContainsFunc(w.events, func(e Event) bool { return e.Reason == ReasonGaveUp }) {
		t.Fatalf("gave up on a daemon with stable runs: %v", w.events)
	}
}

// Stopping a supervised daemon through its Daemon is respected: the
// Manager does not start it again; restarting it through its Daemon is
// too.
func TestManagerDirectDaemonStop(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	m.Add(Spec{Name: "direct", Command: []string{"sleep", "300"}, StartSecs: -1, Restart: RestartAlways})
	w := &watcher{t: t, m: m}
	m.Start()
	w.until("running", w.state("direct", Running))
	first := daemonOf(m, "direct").PID()
	daemonOf(m, "direct").Restart(nil)
	w.until("restarted", func() bool { d := daemonOf(m, "direct"); return d.State() == Running && d.PID() != first })
	daemonOf(m, "direct").Stop()
	w.until("stopped", w.state("direct", Stopped))
	m.Poll(time.Now().Add(time.Minute))
	if st := m.Status()[0]; st.State != Stopped || st.WantUp {
		t.Fatalf("status %+v after a direct Stop", st)
	}
}

// After Close, requests fail clearly and Events is closed.
func TestManagerClosed(t *testing.T) {
	t.Parallel()
	m := NewManager(Options{PIDDir: t.TempDir(), LogDir: t.TempDir()})
	m.Close()
	if err := m.Start(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Start after Close = %v", err)
	}
	if err := m.Add(Spec{Name: "x", Command: []string{"true"}}); err == nil {
		t.Fatal("Add after Close succeeded")
	}
	if _, ok := <-m.Events(); ok {
		t.Fatal("Events not closed")
	}
	m.Poll(time.Now()) // harmless
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// After may name a daemon added later; a Start while it is missing is a
// clear error; a cycle is refused at Add.
func TestManagerAfterAnyOrder(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	add := func(name string, after ...string) error {
		return m.Add(Spec{Name: name, Func: "sleep", StartSecs: -1, After: after})
	}
	if err := add("web", "app"); err != nil {
		t.Fatal(err)
	}
	if err := m.Start("web"); !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), `"app"`) {
		t.Fatalf("Start with app missing = %v", err)
	}
	if err := add("app", "db"); err != nil {
		t.Fatal(err)
	}
	if err := add("db", "web"); !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("Add of a cycle = %v", err)
	}
	if err := add("db"); err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, m: m}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	w.until("all running", func() bool { return allIn(m, Running) })
	var order []string
	for _, ev := range w.events {
		if ev.To == Starting {
			order = append(order, ev.Daemon)
		}
	}
	if strings.Join(order, " ") != "db app web" {
		t.Fatalf("start order %v, want db app web", order)
	}
}

// Restart of a daemon whose After daemons are not all running stops it
// now and starts it once they run (as Start waits for them): what a
// reload does when a changed daemon's new After names a daemon just added.
func TestManagerRestartWaitsForAfter(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	if err := m.Add(Spec{Name: "web", Func: "sleep", StartSecs: -1}); err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, m: m}
	m.Start("web")
	w.until("web running", w.state("web", Running))
	old := daemonOf(m, "web").PID()
	// web now runs after a new, slow to start, daemon.
	if err := m.Remove("web"); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(Spec{Name: "db", Func: "sleep", StartSecs: 300 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(Spec{Name: "web", Func: "sleep", StartSecs: -1, After: []string{"db"}}); err != nil {
		t.Fatal(err)
	}
	if err := m.Start("db"); err != nil {
		t.Fatal(err)
	}
	if err := m.Restart("web"); err != nil {
		t.Fatal(err)
	}
	w.until("web restarted", func() bool {
		d := daemonOf(m, "web")
		return d.State() == Running && d.PID() != old
	})
	var dbUp, webStart time.Time
	for _, ev := range w.events {
		switch {
		case ev.Daemon == "db" && ev.To == Running:
			dbUp = ev.Time
		case ev.Daemon == "web" && ev.To == Starting && ev.PID != old:
			webStart = ev.Time
		}
	}
	if dbUp.IsZero() || webStart.Before(dbUp) {
		t.Fatalf("web started at %v, db running at %v: the restart did not wait; events %v", webStart, dbUp, w.events)
	}
}

// Spec.Data reaches a Func daemon started (and restarted) by the Manager;
// Manager.Signal signals by name and says which it could not.
func TestManagerDataAndSignal(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	if err := m.Add(Spec{Name: "echo", Func: "echo", Data: []byte("hi"), StartSecs: -1,
		Restart: RestartOnFailure, RestartDelay: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(Spec{Name: "idle", Func: "sleep"}); err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, m: m}
	m.Start("echo")
	w.until("echo running", w.state("echo", Running))
	d := daemonOf(m, "echo")
	first := d.PID()
	waitFor(t, "the data in the log", func() bool {
		b, _ := os.ReadFile(d.LogFile())
		return strings.Count(string(b), `data="hi"`) == 1
	}, func() string { b, _ := os.ReadFile(d.LogFile()); return string(b) })
	err := m.Signal(syscall.SIGKILL, "echo", "idle")
	var le *Error
	if !errors.Is(err, ErrNotRunning) || !errors.As(err, &le) || le.Daemon != "idle" || strings.Contains(err.Error(), "echo") {
		t.Fatalf("Signal = %v, want ErrNotRunning for idle only", err)
	}
	if err := m.Signal(syscall.SIGKILL, "nope"); !errors.Is(err, ErrUnknownDaemon) {
		t.Fatalf("Signal of an unknown name = %v", err)
	}
	w.until("restarted", func() bool { return d.State() == Running && d.PID() != first })
	waitFor(t, "the data in the log again", func() bool {
		b, _ := os.ReadFile(d.LogFile())
		return strings.Count(string(b), `data="hi"`) == 2
	}, func() string { b, _ := os.ReadFile(d.LogFile()); return string(b) })
}

// Events that do not fit wait for a consumer that lags, in order, and the
// Manager does not spin meanwhile: its wake-ups slow down.
func TestManagerLaggingConsumer(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{EventBuffer: 1})
	for i := range 3 {
		m.Add(Spec{Name: fmt.Sprint("lag", i), Func: "sleep", StartSecs: -1})
	}
	m.Start()
	wakes := 0
	deadline := time.After(time.Second)
	for done := false; !done; {
		select {
		case <-m.Wake():
			wakes++
			m.Poll(time.Now())
		case <-deadline:
			done = true
		}
	}
	if wakes > 40 {
		t.Fatalf("%d wake-ups in 1s with nobody reading Events", wakes)
	}
	var seqs = map[string]uint64{}
	w := &watcher{t: t, m: m}
	w.until("every event delivered, in order", func() bool {
		for _, ev := range w.events {
			if ev.Seq != seqs[ev.Daemon]+1 {
				t.Fatalf("event %v after seq %d", ev, seqs[ev.Daemon])
			}
			seqs[ev.Daemon] = ev.Seq
		}
		w.events = nil
		return allIn(m, Running) && len(seqs) == 3 && seqs["lag0"] >= 2 && seqs["lag1"] >= 2 && seqs["lag2"] >= 2
	})
}

// Status says, by its Seq, which events it reflects: a consumer of Events
// that has read fewer is behind the snapshot, and knows it.
func TestManagerStatusSeq(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	m.Add(Spec{Name: "seq", Func: "sleep", StartSecs: -1})
	m.Start()
	var read uint64
	w := &watcher{t: t, m: m}
	w.until("running", w.state("seq", Running))
	for _, ev := range w.of("seq") {
		read = ev.Seq
	}
	st := m.Status()[0]
	if st.State != Running || st.Seq != read {
		t.Fatalf("status %v seq %d, events read up to %d", st.State, st.Seq, read)
	}
	daemonOf(m, "seq").Stop() // events made, not yet read
	if st := m.Status()[0]; st.Seq <= read || st.State == Running {
		t.Fatalf("after Stop: status %v seq %d, read %d: the snapshot should be ahead, and say so", st.State, st.Seq, read)
	}
}

// A Start that waits for the daemons it runs after writes its wish in a
// pid dir that does not exist yet (a first `launcher start web`, made by
// a Manager that supervises nothing), and starts once they run.
func TestManagerStartAfterFreshDir(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{NoSupervise: true})
	for _, s := range []Spec{{Name: "db", Func: "sleep", StartSecs: -1}, {Name: "web", Func: "sleep", StartSecs: -1, After: []string{"db"}}} {
		if err := m.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Start("web"); err != nil {
		t.Fatalf("Start(web) with db stopped, in a fresh pid dir: %v", err)
	}
	web, _ := m.Daemon("web")
	if st := web.Status(); !st.WantUp || st.State != Stopped {
		t.Fatalf("web after Start, db stopped: %+v, want stopped and wanted up", st)
	}
	w := &watcher{t: t, m: m}
	if err := m.Start("db"); err != nil {
		t.Fatal(err)
	}
	w.until("db and web running", func() bool { return allIn(m, Running) })
}

// A supervisor whose daemon cannot be executed does not spin: its Poll
// returns (it used to try again at once, inside the same Poll, for ever),
// restart never leaves it down, on-failure backs off and gives up, and a
// controller whose wish it carried out (a CLI's start) hears why, as a
// start-failed note that errors.Is ErrExec.
func TestSupervisorCannotExec(t *testing.T) {
	t.Parallel()
	for _, policy := range []RestartPolicy{RestartNever, RestartOnFailure} {
		t.Run(policy.String(), func(t *testing.T) {
			t.Parallel()
			m := newManager(t, Options{})
			spec := Spec{Name: "missing", Command: []string{"/nonexistent/prog", "x"}, Restart: policy,
				RestartDelay: time.Nanosecond, MaxRestarts: 3, PIDDir: m.opts.PIDDir, LogDir: m.opts.LogDir}
			if err := m.Add(spec); err != nil {
				t.Fatal(err)
			}
			asker := newManager(t, Options{PIDDir: m.opts.PIDDir, LogDir: m.opts.LogDir, NoSupervise: true})
			if err := asker.Add(spec); err != nil {
				t.Fatal(err)
			}
			if err := asker.Start(); err != nil {
				t.Fatalf("the intent: %v", err)
			}
			md, ad := daemonOf(m, spec.Name), daemonOf(asker, spec.Name)
			var heard *Event
			deadline := time.After(20 * time.Second)
			for heard == nil || policy == RestartOnFailure && !md.Status().GaveUp {
				polled := make(chan struct{})
				go func() { m.Poll(time.Now()); close(polled) }()
				select {
				case <-polled:
				case <-deadline:
					t.Fatalf("the supervisor's Poll never returned: it spins on the failed start")
				}
				select {
				case <-m.Wake():
				case <-asker.Wake():
					asker.Poll(time.Now())
				case ev := <-asker.Events():
					if ev.Reason == ReasonStartFailed {
						heard = &ev
					}
				case <-m.Events():
				case <-deadline:
					t.Fatalf("nothing heard: supervisor %+v, asker %+v", md.Status(), ad.Status())
				}
			}
			if !errors.Is(heard.Err, ErrExec) || !strings.Contains(heard.Err.Error(), "/nonexistent/prog") {
				t.Errorf("the asker heard %v (%v), want ErrExec naming the program", heard, heard.Err)
			}
			st := md.Status()
			switch {
			case st.State != Stopped:
				t.Errorf("supervisor's daemon %+v, want stopped", st)
			case policy == RestartNever && st.WantUp:
				t.Errorf("restart never: still wanted up, tried again: %+v", st)
			case policy == RestartOnFailure && st.Restarts > spec.MaxRestarts:
				t.Errorf("restarts %d > MaxRestarts %d", st.Restarts, spec.MaxRestarts)
			}
		})
	}
}

// Close ends Run at once and leaves the daemons running; Run and Shutdown
// of a closed Manager say it is closed instead of pretending all stopped.
func TestRunEndsOnClose(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := NewManager(Options{PIDDir: dir + "/run", LogDir: dir + "/log"})
	spec := Spec{Name: "stays", Command: []string{"sleep", "300"}, StartSecs: 50 * time.Millisecond}
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	pid := daemonOf(m, "stays").PID()
	later := newDaemon(t, Spec{Name: "stays", Command: spec.Command, PIDDir: dir + "/run", LogDir: dir + "/log"}) // its cleanup stops it
	ran := make(chan error, 1)
	go func() { ran <- m.Run(context.Background()) }()
	// Running once StartSecs has passed, at a Poll that only Run makes:
	// once that event comes, Run is under way.
	for running := false; !running; {
		select {
		case ev := <-m.Events():
			running = ev.To == Running
		case <-time.After(20 * time.Second):
			t.Fatal("Run never polled")
		}
	}
	m.Close()
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run after Close: %v, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	if !pidAlive(pid) || later.PID() != pid {
		t.Fatalf("Close stopped the daemon (pid %d), or the later look did not find it: %+v", pid, later.Status())
	}
	if err := m.Shutdown(context.Background()); !errors.Is(err, errClosed) {
		t.Errorf("Shutdown after Close: %v, want closed", err)
	}
	if err := m.Run(context.Background()); !errors.Is(err, errClosed) {
		t.Errorf("Run after Close: %v, want closed", err)
	}
}

// A call naming daemons that are not added acts on the others and says
// which names it did not know, one *Error each.
func TestUnknownNamesDoNotStopTheOthers(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	for _, n := range []string{"a", "b"} {
		if err := m.Add(Spec{Name: n, Command: []string{"sleep", "300"}, StartSecs: -1}); err != nil {
			t.Fatal(err)
		}
	}
	err := m.Start("a", "nope1", "b", "nope2")
	var names []string
	for _, e := range Errors(fmt.Errorf("outer: %w", err)) { // a wrapped joined error too
		if errors.Is(e, ErrUnknownDaemon) {
			names = append(names, e.Daemon)
		}
	}
	if !slices.Equal(names, []string{"nope1", "nope2"}) {
		t.Errorf("errors %v: want ErrUnknownDaemon for nope1 and nope2", err)
	}
	for _, n := range []string{"a", "b"} {
		if daemonOf(m, n).PID() == 0 {
			t.Errorf("%s was not started", n)
		}
	}
}

// A daemon removed and added again goes on with the Seq of its events.
func TestReaddKeepsSeq(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	spec := Spec{Name: "seq", Command: []string{"sleep", "300"}, StartSecs: -1}
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, m: m}
	w.until("running", func() bool { return daemonOf(m, "seq").State() == Running })
	last := w.events[len(w.events)-1].Seq
	if err := m.Remove("seq"); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	from := len(w.events)
	w.until("adopted again", func() bool { return len(w.events) > from })
	if got := w.events[from].Seq; got != last+1 {
		t.Errorf("first event after the re-add has Seq %d, want %d: %v", got, last+1, w.events)
	}
}

// A Daemon of a closed Manager, or one its Manager removed, refuses
// requests with ErrClosed and its Poll does nothing: a round of a closed
// Manager sent on its closed Events (a panic), a Start spawned a process
// nobody watched, and a removed Daemon's events reused the Seqs of the
// daemon added again under its name.
func TestClosedOrRemovedDaemonRefuses(t *testing.T) {
	t.Parallel()
	requests := map[string]func(d *Daemon) error{
		"start":      func(d *Daemon) error { return d.Start(nil) },
		"restart":    func(d *Daemon) error { return d.Restart(nil) },
		"stop":       func(d *Daemon) error { return d.Stop() },
		"force-stop": func(d *Daemon) error { return d.ForceStop() },
		"signal":     func(d *Daemon) error { return d.Signal(syscall.SIGCONT) },
		"disable":    func(d *Daemon) error { return d.Disable() },
		"enable":     func(d *Daemon) error { return d.Enable() },
		"input":      func(d *Daemon) error { return d.WriteInput([]byte("x\n")) },
	}
	for _, how := range []string{"closed", "removed"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			m := NewManager(Options{PIDDir: dir + "/run", LogDir: dir + "/log", EventBuffer: 1})
			t.Cleanup(func() { m.Close() })
			spec := testSpec(t, "x", "sleep")
			spec.StartSecs = -1
			if err := m.Add(spec); err != nil {
				t.Fatal(err)
			}
			if err := m.Start(); err != nil {
				t.Fatal(err)
			}
			d := daemonOf(m, "x")
			w := &watcher{t: t, m: m}
			w.until("running", func() bool { return d.State() == Running })
			pid := d.PID()
			killAtCleanup(t, pid) // in the removed case the daemon added again stops and reaps it
			if how == "closed" {
				m.Close()
			} else if err := m.Remove("x"); err != nil {
				t.Fatal(err)
			}
			for name, req := range requests {
				if err := req(d); !errors.Is(err, ErrClosed) {
					t.Errorf("%s of a %s daemon: %v, want ErrClosed", name, how, err)
				}
			}
			if evs := d.Poll(time.Now()); evs != nil {
				t.Errorf("Poll of a %s daemon: %v, want nothing", how, evs)
			}
			if !pidExists(pid) {
				t.Errorf("pid %d is gone: a request of a %s daemon acted on it", pid, how)
			}
			if _, err := os.Lstat(dir + "/run/x.disabled"); err == nil {
				t.Errorf("the Disable of a %s daemon made x.disabled", how)
			}
			if how == "removed" {
				// Added again: its events go on from the last Seq, once.
				if err := m.Add(spec); err != nil {
					t.Fatal(err)
				}
				again := daemonOf(m, "x")
				if err := again.Stop(); err != nil {
					t.Fatal(err)
				}
				w.until("stopped", func() bool { return again.State() == Stopped })
				seen := map[uint64]bool{}
				for _, ev := range w.events {
					if ev.Daemon == "x" && seen[ev.Seq] {
						t.Errorf("Seq %d twice: %v", ev.Seq, w.events)
					}
					seen[ev.Seq] = true
				}
			}
		})
	}
}

// What Close and Remove leave says so: a Start of named daemons, one of
// which another goroutine removes while an earlier one spawns, fails for
// that one (it returned nil, and the daemon was never started); Remove
// after Close is ErrClosed; a lone Daemon's Events asked for after its
// Close is a closed channel (nil: a range over it blocked for ever).
func TestCloseAndRemoveSaySo(t *testing.T) {
	m := newManager(t, Options{})
	for _, n := range []string{"a", "b"} {
		spec := testSpec(t, n, "")
		spec.Command, spec.StartSecs = []string{"sleep", "600"}, -1
		if err := m.Add(spec); err != nil {
			t.Fatal(err)
		}
	}
	orig := spawnFunc
	spawnFunc = func(r spawnRequest) (*process, error) {
		spawnFunc = orig
		if err := m.Remove("b"); err != nil { // the Manager's lock is released during a's spawn
			t.Errorf("Remove(b) during a's spawn: %v", err)
		}
		return orig(r)
	}
	t.Cleanup(func() { spawnFunc = orig })
	err := m.Start("a", "b")
	if !errors.Is(err, ErrUnknownDaemon) || !strings.Contains(err.Error(), "start b:") {
		t.Errorf("Start(a, b) with b removed during it: %v, want b's ErrUnknownDaemon", err)
	}
	if a := daemonOf(m, "a"); a.State() == Stopped {
		t.Errorf("a was not started: %+v", a.Status())
	}

	closed := NewManager(Options{PIDDir: t.TempDir(), LogDir: t.TempDir()})
	closed.Close()
	if err := closed.Remove("x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Remove after Close: %v, want ErrClosed", err)
	}

	lone := newDaemon(t, testSpec(t, "lone", "sleep"))
	lone.Close()
	select {
	case ev, ok := <-lone.Events():
		if ok {
			t.Errorf("Events after Close gave %v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Error("Events asked for after Close is not closed")
	}
}

// Manager.Status names the supervisor as soon as Add took the lease, and
// nobody once Close gave it up (each was left to the next round, which a
// closed Manager never has).
func TestStatusNamesTheSupervisorAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := NewManager(Options{PIDDir: dir + "/run", LogDir: dir + "/log"})
	if err := m.Add(testSpec(t, "x", "sleep")); err != nil {
		t.Fatal(err)
	}
	if st := m.Status()[0]; st.Supervisor != os.Getpid() {
		t.Errorf("right after Add: supervisor %d, want this process, %d", st.Supervisor, os.Getpid())
	}
	m.Close()
	if st := m.Status()[0]; st.Supervisor != 0 {
		t.Errorf("after Close: supervisor %d, want none", st.Supervisor)
	}
}

// Shutdown returns once every stop's events are on Events, not only once
// every daemon is stopped: with more events than the channel holds, those
// that waited for room were dropped by the Close that follows, and a
// consumer ranging over Events missed how some daemons ended. A consumer
// that is gone is not waited for long.
func TestShutdownDeliversEveryEvent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := NewManager(Options{PIDDir: dir + "/run", LogDir: dir + "/log", EventBuffer: 1})
	const n = 6
	for i := range n {
		if err := m.Add(Spec{Name: fmt.Sprintf("d%d", i), Command: []string{"sleep", "300"}, StartSecs: -1}); err != nil {
			t.Fatal(err)
		}
	}
	stopped := make(chan map[string]bool, 1)
	go func() { // the consumer: every daemon's end, until Events closes
		seen := map[string]bool{}
		for ev := range m.Events() {
			if ev.To == Stopped && ev.From != Stopped {
				seen[ev.Daemon] = true
			}
		}
		stopped <- seen
	}()
	startThenShutdown(t, m)
	m.Close()
	select {
	case seen := <-stopped:
		if len(seen) != n {
			t.Fatalf("the consumer saw %d of %d daemons stop: %v", len(seen), n, seen)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Events not closed 20s after Close")
	}
}

// An observer that reads the supervisor's failure to start and its
// give-up in one look (not polled in between: one record says both) hears
// both, the failure first, with its error. (It heard only the give-up, in
// one load run of TestSupervisorCannotExec.)
func TestObserverHearsStartFailureAndGiveUp(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	spec := Spec{Name: "missing", Command: []string{"/nonexistent/prog"}, Restart: RestartOnFailure,
		RestartDelay: time.Nanosecond, MaxRestarts: 1, PIDDir: m.opts.PIDDir, LogDir: m.opts.LogDir}
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	observer := newDaemon(t, spec) // polled only once the supervisor gave up
	m.Start()                      // fails: ErrExec
	w := &watcher{t: t, m: m}
	w.until("gave up", func() bool { return m.Status()[0].GaveUp })
	heard := hearGiveUp(t, observer, nil)
	failed := slices.IndexFunc(heard, func(ev Event) bool { return ev.Reason == ReasonStartFailed && errors.Is(ev.Err, ErrExec) })
	if failed < 0 || failed > slices.IndexFunc(heard, isGaveUp) {
		t.Errorf("the observer heard %v: want the start failure (ErrExec), then the give-up", heard)
	}
}

// startThenShutdown starts m's daemons (each killed at the test's end) and
// shuts m down, and says how long the Shutdown took.
func startThenShutdown(t *testing.T, m *Manager) time.Duration {
	t.Helper()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	for _, d := range m.Daemons() {
		killAtCleanup(t, d.PID())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := m.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// hearGiveUp polls observer (by its Wake) until it has heard a gave-up
// note, and returns what it heard (after heard).
func hearGiveUp(t *testing.T, observer *Daemon, heard []Event) []Event {
	t.Helper()
	heard = append(heard, observer.Poll(time.Now())...)
	deadline := time.After(10 * time.Second)
	for !slices.ContainsFunc(heard, isGaveUp) {
		select {
		case <-observer.Wake():
			heard = append(heard, observer.Poll(time.Now())...)
		case <-deadline:
			t.Fatalf("the observer heard no give-up: %v; its status %+v", heard, observer.Status())
		}
	}
	return heard
}

func isGaveUp(ev Event) bool { return ev.Reason == ReasonGaveUp }

// A consumer that stopped reading holds Shutdown up for a second at most.
func TestShutdownDoesNotWaitForAGoneConsumer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := NewManager(Options{PIDDir: dir + "/run", LogDir: dir + "/log", EventBuffer: 1})
	t.Cleanup(func() { m.Close() })
	for i := range 3 {
		if err := m.Add(Spec{Name: fmt.Sprintf("d%d", i), Command: []string{"sleep", "300"}, StartSecs: -1}); err != nil {
			t.Fatal(err)
		}
	}
	m.Events() // asked for, never read
	if took := startThenShutdown(t, m); took > 10*time.Second {
		t.Errorf("Shutdown took %v with nobody reading Events", took)
	}
}

// A controller that only looks learns that the supervisor gave up on a
// daemon, even when it never saw one of its processes (each lived a
// moment, gone before it looked): an event of reason gave-up, with the
// last exit, from the shared record.
func TestObserverHearsTheSupervisorGiveUp(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "crashy", "fail")
	spec.StartSecs = time.Second
	spec.Restart, spec.RestartDelay, spec.MaxRestarts = RestartOnFailure, time.Millisecond, 1
	observer := newDaemon(t, spec) // polled only once the supervisor gave up
	m := newManager(t, Options{})
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, m: m}
	w.until("gave up", func() bool { return m.Status()[0].GaveUp })
	heard := hearGiveUp(t, observer, nil)
	if ev := heard[slices.IndexFunc(heard, isGaveUp)]; ev.To != Stopped || ev.Exit == nil || ev.Exit.Code != 3 {
		t.Errorf("the observer's gave-up event: %+v (exit %v), want stopped, exit status 3", ev, ev.Exit)
	}
}
