//go:build linux

// scale_test.go checks that the cost of an event does not grow with the
// number of daemons: one exit among many is one waitid, and an idle Poll
// costs the same with 1 or 10 000 daemons.

package launcher

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

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
	victim := daemonOf(m, "d00500")
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

// Manager.Status of all and Daemons copy memory: no system call per
// daemon (target: ≤ 1 ms with 10 000). The daemons need no process for
// that: with one, Status reads no more.
func BenchmarkManagerStatus(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("daemons=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			m := NewManager(Options{PIDDir: dir + "/run", LogDir: dir + "/log"})
			b.Cleanup(func() { m.Close() })
			for i := range n {
				if err := m.Add(Spec{Name: fmt.Sprintf("d%05d", i), Command: []string{"sleep", "600"}}); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("Status", func(b *testing.B) {
				for b.Loop() {
					m.Status()
				}
			})
			b.Run("Daemons", func(b *testing.B) {
				for b.Loop() {
					m.Daemons()
				}
			})
		})
	}
}

// A Daemon stays within the heap's 1536-byte size class (with the 8-byte
// header the allocator puts before an object of more than 512 bytes with
// pointers): at 1536 it took 1792, 256 bytes more per daemon. A field
// added must find room: a rare group behind a pointer (as recovered), or
// padding.
func TestDaemonSize(t *testing.T) {
	if size := unsafe.Sizeof(Daemon{}); size+8 > 1536 {
		t.Fatalf("a Daemon takes %d bytes, %d with its heap header: more than the 1536 size class", size, size+8)
	}
}

// An idle Manager with 1000 daemons and their watched pid dir costs
// nothing: no wake-up and no CPU time beyond 2 ms in 10 s (-long; by
// default 200 daemons for 2 s). It runs in a process of its own, so the
// CPU time is the Manager's.
func TestManagerIdleCostsNothing(t *testing.T) {
	n, idle := 200, 2*time.Second
	if *long {
		n, idle = 1000, 10*time.Second
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "LAUNCHER_TEST_CONTROLLER=idle-manager", "LT_PIDDIR="+t.TempDir(),
		fmt.Sprintf("LT_N=%d", n), "LT_IDLE="+idle.String(), "GORACE=atexit_sleep_ms=0")
	t.Cleanup(func() {
		if cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("idle manager: %v, said %q", err, out)
	}
	var wakes int
	var ns int64
	if _, err := fmt.Sscanf(string(out), "wakes %d cpu %d", &wakes, &ns); err != nil {
		t.Fatalf("idle manager said %q", out)
	}
	cpu := time.Duration(ns)
	t.Logf("%d daemons idle for %v: %d wake-ups, %v CPU", n, idle, wakes, cpu)
	if wakes != 0 || cpu > 2*time.Millisecond && !raceEnabled {
		t.Fatalf("%d daemons idle for %v: %d wake-ups, %v CPU; want none, at most 2ms", n, idle, wakes, cpu)
	}
}

// ReapOrphans reaps an orphan reparented to this process (a subreaper, as
// an init is), and leaves a daemon's own process to its Daemon, whose exit
// status is then not lost.
func TestReapOrphans(t *testing.T) {
	spec := testSpec(t, "kept", "")
	spec.Command = []string{"sh", "-c", "sleep 0.3; exit 5"}
	spec.StartSecs = time.Minute
	d := newDaemon(t, spec)
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	daemonPID := d.PID()
	// An orphan: sh starts sleep and exits; sleep comes to this process.
	out, err := exec.Command("sh", "-c", "sleep 0.05 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	var orphan int
	fmt.Sscan(string(out), &orphan)
	if orphan <= 1 {
		t.Fatalf("orphan pid %q", out)
	}
	var reaped []int
	waitFor(t, "the orphan reaped", func() bool {
		reaped = append(reaped, ReapOrphans()...)
		return slices.Contains(reaped, orphan)
	}, func() string { return fmt.Sprint(reaped) })
	evs := waitState(t, d, Stopped)
	var exit *ExitStatus
	for _, ev := range evs {
		if ev.To == Zombie {
			exit = ev.Exit
		}
	}
	if exit == nil || exit.Code != 5 || slices.Contains(reaped, daemonPID) {
		t.Fatalf("the daemon's exit %v (events %v); reaped %v", exit, evs, reaped)
	}
}

// A Manager's Start releases the lock while it forks and execs: Status,
// Poll and a Start of another daemon, from other goroutines, answer while
// that spawn is held in the middle; a Stop of the daemon being spawned
// waits for it, then stops it. Not parallel: it swaps spawnFunc.
func TestOtherCallsGoOnDuringSpawn(t *testing.T) {
	m := newManager(t, Options{})
	for _, n := range []string{"held", "free"} {
		if err := m.Add(Spec{Name: n, Command: []string{"sleep", "600"}, StartSecs: -1}); err != nil {
			t.Fatal(err)
		}
	}
	var heldDir string
	entered, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	orig := spawnFunc
	spawnFunc = func(r spawnRequest) (*process, error) {
		if r.dir == heldDir && once.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
		return orig(r)
	}
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
		spawnFunc = orig
	})
	// The spawn request's dir tells the held daemon's spawn apart.
	heldDir = t.TempDir()
	daemonOf(m, "held").spec.Dir = heldDir

	started := make(chan error, 1)
	go func() { started <- m.Start("held") }()
	select {
	case <-entered:
	case err := <-started:
		t.Fatalf("Start returned before its spawn was held: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the held spawn never began")
	}
	within := func(what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { f(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s waited for another daemon's spawn", what)
		}
	}
	var st []Status
	within("Status", func() { st = m.Status() })
	if st[0].Name != "free" || st[1].Name != "held" || st[1].PID != 0 {
		t.Fatalf("status while held's spawn is held: %+v", st)
	}
	within("Poll", func() { m.Poll(time.Now()) })
	within("Start of another daemon", func() {
		if err := m.Start("free"); err != nil {
			t.Errorf("start free: %v", err)
		}
	})
	if pid := daemonOf(m, "free").PID(); pid == 0 {
		t.Fatal("free has no pid after its Start")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- m.Stop("held") }()
	released = true
	close(release)
	for _, ch := range []chan error{started, stopped} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("Start or Stop of the held daemon never returned")
		}
	}
	w := &watcher{t: t, m: m}
	held := daemonOf(m, "held")
	w.until("held stopped", func() bool { return held.State() == Stopped })
	if held.Status().LastExit == nil {
		t.Fatalf("held stopped without an exit: its spawn did not run, or the stop came first: %+v", held.Status())
	}
}

// TestStatusDoesNotWaitForTheMutex: Status, State, PID and a Manager's
// Status answer while the owner's mutex is held (a round or a request
// under way, a spawn's records being written on a slow disk) with what the
// last request or round left, the request just made included.
func TestStatusDoesNotWaitForTheMutex(t *testing.T) {
	m := newManager(t, Options{})
	for _, n := range []string{"a", "b"} {
		if err := m.Add(Spec{Name: n, Command: []string{"sleep", "600"}, StartSecs: -1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Start("a"); err != nil {
		t.Fatal(err)
	}
	a, b := daemonOf(m, "a"), daemonOf(m, "b")
	w := &watcher{t: t, m: m}
	w.until("a running", func() bool { return a.State() == Running })
	pid := a.PID()
	if err := m.Start("b"); err != nil {
		t.Fatal(err)
	}
	bpid := b.PID()
	if bpid == 0 || pid == 0 {
		t.Fatalf("pids after the starts: a %d, b %d", pid, bpid)
	}

	m.own.mu.Lock() // a round that takes its time
	type seen struct {
		a, b  Status
		state State
		pid   int
		all   []Status
	}
	got := make(chan seen, 1)
	go func() {
		got <- seen{a: a.Status(), b: b.Status(), state: a.State(), pid: b.PID(), all: m.Status()}
	}()
	var s seen
	select {
	case s = <-got:
	case <-time.After(20 * time.Second):
		m.own.mu.Unlock()
		t.Fatal("Status waited for the owner's mutex")
	}
	m.own.mu.Unlock()
	if s.a.State != Running || s.a.PID != pid || s.a.Uptime <= 0 || !s.a.Enabled {
		t.Errorf("a's status while the mutex is held: %+v (want running, pid %d, an uptime)", s.a, pid)
	}
	if s.b.State == Stopped || s.b.PID != bpid || s.state != Running || s.pid != bpid {
		t.Errorf("b's status, a's state, b's pid while the mutex is held: %+v, %v, %d (want b's start seen, pid %d)", s.b, s.state, s.pid, bpid)
	}
	if len(s.all) != 2 || s.all[0].PID != pid || s.all[1].PID != bpid {
		t.Errorf("Manager.Status while the mutex is held: %+v", s.all)
	}
	if s.a.RSS == 0 {
		t.Errorf("a's RSS not read at the call: %+v", s.a)
	}
	// Manager.Status reads nothing: no usage, but the rest as each's.
	if all := s.all[0]; all.RSS != 0 || all.CPUTime != 0 || all.TreeCPU != -1 || all.TreeMemory != -1 || all.TreeProcs != -1 ||
		!all.Enabled || all.Uptime <= 0 {
		t.Errorf("Manager.Status's a: %+v (want no usage read, enabled, an uptime)", all)
	}

	// And with the mutex free, what changed since shows at once.
	if err := m.Stop("a"); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.State != Stopping && st.State != Stopped {
		t.Fatalf("a's status right after Stop: %+v", st)
	}
}

// TestConcurrentAdds: Adds from several goroutines (which read each
// daemon's files with the mutex released), while another goroutine polls
// and the daemons' files change, each find and adopt what is there.
func TestConcurrentAdds(t *testing.T) {
	const n = 24
	a := newManager(t, Options{})
	dir := t.TempDir()
	var specs []Spec
	for i := range n {
		s := Spec{Name: fmt.Sprintf("d%02d", i), Command: []string{"sleep", "600"}, StartSecs: -1,
			PIDDir: dir + "/run", LogDir: dir + "/log"}
		specs = append(specs, s)
		if err := a.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	wa := &watcher{t: t, m: a}
	wa.until("all running", func() bool { return allIn(a, Running) })

	b := NewManager(Options{NoSupervise: true})
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() { // a caller's loop beside the Adds
		defer close(polled)
		for {
			select {
			case <-ctx.Done():
				return
			case <-b.Wake():
				b.Poll(time.Now())
			case <-b.Events():
			}
		}
	}()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, n)
	for range 4 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				if i%3 == 0 {
					a.Stop(specs[i].Name) // its files change meanwhile
				}
				errs[i] = b.Add(specs[i])
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	wa.until("the stopped ones stopped", func() bool {
		for i, s := range specs {
			if d := daemonOf(a, s.Name); i%3 == 0 && d.State() != Stopped {
				return false
			}
		}
		return true
	})
	deadline := time.Now().Add(20 * time.Second)
	for i, s := range specs {
		da, db := daemonOf(a, s.Name), daemonOf(b, s.Name)
		for {
			sa, sb := da.Status(), db.Status()
			want := Running
			if i%3 == 0 {
				want = Stopped
			}
			if sb.State == want && sb.PID == sa.PID {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the looker sees %v pid %d, its supervisor %v pid %d", s.Name, sb.State, sb.PID, sa.State, sa.PID)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	cancel()
	<-polled
}

// TestExitEventBeforeReplacementSpawn: where another goroutine polls, a
// crash's exit event reaches the goroutine waiting on Events before the
// replacement's spawn, not once the polling goroutine's fork and exec let
// the processor go. One processor, so that only the round's yield can let
// the receiver run first. The yield asks the scheduler, which (under -race
// on purpose) sometimes runs the yielder again first: so most kills of 20,
// where with no yield none is.
func TestExitEventBeforeReplacementSpawn(t *testing.T) {
	m, d, _ := restartAtOnce(t)

	var exitSeen, seenAtSpawn atomic.Bool
	spawns := make(chan struct{}, 1)
	orig := spawnFunc
	spawnFunc = func(r spawnRequest) (*process, error) {
		seenAtSpawn.Store(exitSeen.Load())
		select {
		case spawns <- struct{}{}:
		default:
		}
		return orig(r)
	}
	t.Cleanup(func() { spawnFunc = orig })
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	ctx, cancel := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-ctx.Done():
				return
			case <-m.Wake():
				m.Poll(time.Now())
			}
		}
	}()
	defer func() { cancel(); <-polled }()
	const trials = 20
	first := 0
	timeout := time.After(60 * time.Second)
	for range trials {
		old := d.PID()
		exitSeen.Store(false)
		if err := d.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for !exitSeen.Load() {
			select {
			case ev := <-m.Events():
				if ev.To == Zombie && ev.PID == old {
					exitSeen.Store(true)
				}
			case <-timeout:
				t.Fatalf("no exit event of pid %d", old)
			}
		}
		select {
		case <-spawns:
		case <-timeout:
			t.Fatal("no replacement spawned")
		}
		if seenAtSpawn.Load() {
			first++
		}
		for d.State() != Running || d.PID() == old { // the replacement, before the next kill
			select {
			case <-m.Events():
			case <-timeout:
				t.Fatalf("no replacement running: %+v", d.Status())
			}
		}
	}
	if first < trials/2 {
		t.Fatalf("the exit event reached its receiver before the replacement's spawn in %d kills of %d", first, trials)
	}
	t.Logf("the exit event first in %d kills of %d", first, trials)
}

// restartAtOnce is a Manager of one running daemon, "crash", restarted at
// once whenever it ends, and a watcher of it.
func restartAtOnce(t *testing.T) (*Manager, *Daemon, *watcher) {
	t.Helper()
	m := newManager(t, Options{Jitter: func() float64 { return 0 }})
	spec := Spec{Name: "crash", Command: []string{"sleep", "600"}, StartSecs: -1,
		Restart: RestartAlways, RestartDelay: time.Nanosecond, MaxRestartDelay: time.Nanosecond, MaxRestarts: -1}
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	d := daemonOf(m, "crash")
	w := &watcher{t: t, m: m}
	w.until("running", func() bool { return d.State() == Running })
	return m, d, w
}

// ownerYields is how many times m's Polls yielded to a receiver of Events
// before a spawn.
func ownerYields(m *Manager) int {
	m.own.mu.Lock()
	defer m.own.mu.Unlock()
	return m.own.yields
}

// A loop that polls and reads Events itself is not waiting on the channel
// when Poll sends the exit's events: Poll does not yield before the
// replacement's spawn then (nobody is there to run; the yield ran whatever
// else was runnable first). A receiver parked on Events is yielded to.
func TestYieldOnlyToAWaitingReceiver(t *testing.T) {
	t.Parallel()
	m, d, w := restartAtOnce(t)
	for range 5 {
		old := d.PID()
		if err := d.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		w.until("replaced", func() bool { return d.State() == Running && d.PID() != old })
	}
	if y := ownerYields(m); y != 0 {
		t.Fatalf("Poll yielded %d times in 5 restarts with nobody waiting on Events", y)
	}

	// Now a receiver waits on Events, in a goroutine of its own, and this
	// one only polls.
	got := make(chan Event, 64)
	ctx, cancel := context.WithCancel(context.Background())
	received := make(chan struct{})
	go func() {
		defer close(received)
		for {
			select {
			case ev := <-m.Events():
				got <- ev
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() { cancel(); <-received }()
	deadline := time.After(30 * time.Second)
	for i := 0; ownerYields(m) == 0; i++ {
		if i == 20 {
			t.Fatalf("20 restarts with a receiver parked on Events, and Poll never yielded to it")
		}
		old := d.PID()
		if err := d.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for d.State() != Running || d.PID() == old {
			select {
			case <-m.Wake():
				m.Poll(time.Now())
			case <-got:
			case <-deadline:
				t.Fatalf("no replacement of pid %d: %+v", old, d.Status())
			}
		}
	}
}
