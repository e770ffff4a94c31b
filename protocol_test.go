//go:build linux

// protocol_test.go tests the pid dir as a protocol between controllers
// (DESIGN.md section 4, issue 8 points 2-9) with real processes: controller
// processes (controller_test.go) that are SIGKILLed at random points,
// Managers standing by for each other, intents, new instances, shared
// status, exit statuses and readiness of adopted daemons, unsafe and
// read-only pid dirs.
//
// The truth about which processes are a daemon's is taken from the kernel
// (who holds its lock: /proc/*/fd), never from the library.

package launcher

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func init() {
	// exitonusr1: runs until SIGUSR1 (or its stop signal); on SIGUSR1 it
	// exits with the code in its data: 1 by returning an error (so Main
	// records it in <name>.exit), any other code by os.Exit (which Main
	// never sees).
	helpers["exitonusr1"] = func(ctx context.Context, data []byte) error {
		code, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		fmt.Println("waiting for SIGUSR1")
		select {
		case <-ctx.Done():
			return nil
		case <-usr1:
		case <-time.After(helperLifetime):
			return nil
		}
		if code == 1 {
			return errors.New("asked to fail")
		}
		os.Exit(code)
		return nil
	}
	// notifyto: an sd_notify daemon that sends each message to the
	// socket's path (as sd_notify does), not through a socket connected
	// once: so a controller that binds the socket after its starter died
	// gets what it sends from then on. READY=1 once the file named by its
	// data exists, then WATCHDOG=1 every 20ms while <data>.beat exists.
	helpers["notifyto"] = func(ctx context.Context, data []byte) error {
		path := os.Getenv("NOTIFY_SOCKET")
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		send := func(msg string) { unix.Sendto(fd, []byte(msg), 0, &unix.SockaddrUnix{Name: path}) }
		exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
		flag := string(data)
		if flag == "" {
			flag = os.Getenv("LT_NOTIFY_FLAG")
		}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		limit := time.After(helperLifetime)
		ready := false
		for {
			if !ready && exists(flag) {
				send("READY=1")
				ready = true
			}
			if ready && exists(flag+".beat") {
				send("WATCHDOG=1")
			}
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			case <-limit:
				return nil
			}
		}
	}
}

// ---- the truth: who holds a daemon's lock ----

// holder is a process that holds a daemon's lock file open.
type holder struct {
	pid   int
	start uint64
	fd    int
}

// lockHolders0 scans /proc for processes (other than this one) that have
// the lock file open: at fd 3 only (what proves a daemon), or at any fd.
// A missing lock file has no holders.
func lockHolders0(lock string, anyFD bool) []holder {
	var lst unix.Stat_t
	if unix.Stat(lock, &lst) != nil {
		return nil
	}
	dir, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := dir.Readdirnames(-1)
	dir.Close()
	self := os.Getpid()
	var hs []holder
	var fds []string
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid == self {
			continue
		}
		fdDir := "/proc/" + name + "/fd/"
		fds = append(fds[:0], "3")
		if anyFD {
			fds = fds[:0]
			if f, err := os.Open(fdDir); err == nil {
				fds, _ = f.Readdirnames(-1)
				f.Close()
			}
		}
		for _, fd := range fds {
			var st unix.Stat_t
			if unix.Stat(fdDir+fd, &st) != nil || st.Dev != lst.Dev || st.Ino != lst.Ino {
				continue
			}
			ps, err := readProcStat(pid)
			if err != nil || ps.state == 'Z' || ps.state == 'X' {
				continue
			}
			n, _ := strconv.Atoi(fd)
			hs = append(hs, holder{pid: pid, start: ps.startTicks, fd: n})
		}
	}
	return hs
}

// both returns the holders (by pid and start time) in a and in b.
func both(a, b []holder) []holder {
	var out []holder
	for _, x := range a {
		for _, y := range b {
			if x.pid == y.pid && x.start == y.start {
				out = append(out, x)
				break
			}
		}
	}
	return out
}

// describeProcs says what each holder is, for failure messages.
func describeProcs(hs []holder) string {
	var b strings.Builder
	for _, h := range hs {
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", h.pid))
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", h.pid))
		fmt.Fprintf(&b, "[pid %d fd %d cmd %q stat %q] ", h.pid, h.fd,
			strings.ReplaceAll(string(cmd), "\x00", " "), strings.TrimSpace(string(stat)))
	}
	return b.String()
}

// killHolders SIGKILLs (through a pidfd, after checking the start time)
// processes a test's controllers started and it found still holding a
// daemon's lock; it is for the cleanup of a failed check.
func killHolders(hs []holder) {
	for _, h := range hs {
		if h.pid <= 1 {
			continue
		}
		fd, err := unix.PidfdOpen(h.pid, 0)
		if err != nil {
			continue
		}
		if st, err := readProcStat(h.pid); err == nil && st.startTicks == h.start {
			unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		}
		unix.Close(fd)
	}
}

// killPID SIGKILLs pid through a pidfd (a daemon the test itself saw
// through its files and proved to hold the lock).
func killPID(t *testing.T, pid int, sig syscall.Signal) {
	t.Helper()
	if pid <= 1 {
		t.Fatalf("killPID(%d)", pid)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		t.Fatalf("pidfd_send_signal(%d, %v): %v", pid, sig, err)
	}
}

// ---- controller processes ----

// ctlProc is a controller process (controller_test.go's modes) run by the
// test, under a reaper that stands in for init (so its orphaned daemons
// are not this process's children and are reaped promptly), or directly
// (so its orphaned daemons become this process's children, unreaped until
// the test reaps them).
type ctlProc struct {
	t     *testing.T
	cmd   *exec.Cmd // the reaper, or the controller itself
	in    io.WriteCloser
	lines chan string
	pid   int // the controller's
	pidfd int
	ready string // its first line
	mu    sync.Mutex
	seen  []string
}

// raceEnv keeps the race detector from sleeping a second at each helper's
// exit (its atexit_sleep_ms default).
func raceEnv() string { return "GORACE=" + os.Getenv("GORACE") + " atexit_sleep_ms=0" }

func startCtl(t *testing.T, mode string, spec Spec, direct bool, env ...string) *ctlProc {
	t.Helper()
	var mine []string
	if direct {
		mine = append(mine, "LAUNCHER_TEST_CONTROLLER="+mode)
	} else {
		mine = append(mine, "LAUNCHER_TEST_CONTROLLER=reaper", "LT_INNER="+mode)
	}
	c := launchHelper(t, append(append(specEnv(spec), mine...), env...))
	c.ready = c.expect("ready line", func(l string) bool { return strings.HasPrefix(l, "ready ") }, 30*time.Second)
	f := strings.Fields(c.ready)
	c.pid, _ = strconv.Atoi(f[1])
	if c.pid <= 1 {
		t.Fatalf("controller said %q", c.ready)
	}
	// The controller waits for the test now (or runs until killed): its pid
	// is its own. Check it is ours before taking a handle on it.
	var err error
	if c.pidfd, err = unix.PidfdOpen(c.pid, 0); err != nil {
		t.Fatalf("pidfd_open(%d): %v", c.pid, err)
	}
	if pp := ppid(c.pid); pp != c.cmd.Process.Pid && c.pid != c.cmd.Process.Pid {
		t.Fatalf("controller %d has parent %d, not %d", c.pid, pp, c.cmd.Process.Pid)
	}
	return c
}

// launchHelper runs this test binary with env added to ours, its stdout
// read line by line into c.lines.
func launchHelper(t *testing.T, env []string) *ctlProc {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = mergeEnv(os.Environ(), append([]string{raceEnv()}, env...))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &ctlProc{t: t, cmd: cmd, in: in, lines: make(chan string, 1024), pidfd: -1}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(c.cleanup)
	return c
}

// ppid reads a process's parent pid from /proc.
func ppid(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

// expect waits for a line of the controller's that matches, and returns it.
func (c *ctlProc) expect(what string, match func(string) bool, timeout time.Duration) string {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("controller ended before %s; it said %q", what, c.said())
			}
			c.mu.Lock()
			c.seen = append(c.seen, l)
			c.mu.Unlock()
			if match(l) {
				return l
			}
		case <-deadline:
			c.t.Fatalf("timed out waiting for %s from the controller; it said %q", what, c.said())
		}
	}
}

func (c *ctlProc) said() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.seen)
}

// kill SIGKILLs the controller and waits until it has exited.
func (c *ctlProc) kill() {
	if c.pidfd >= 0 {
		unix.PidfdSendSignal(c.pidfd, unix.SIGKILL, nil, 0)
		waitPidfd(c.pidfd)
	}
}

// cleanup kills the controller, closes its input and waits for the
// reaper, which exits once every daemon orphaned to it is gone: one still
// running there is a failure (and is killed).
func (c *ctlProc) cleanup() {
	c.kill()
	if c.pidfd >= 0 {
		unix.Close(c.pidfd)
		c.pidfd = -1
	}
	c.in.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
		return
	case <-time.After(10 * time.Second):
	}
	// Something still runs under the reaper: our daemons. Say what, and
	// kill them (and the reaper).
	var left []holder
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err == nil && pid > 1 && ppid(pid) == c.cmd.Process.Pid {
			if st, err := readProcStat(pid); err == nil {
				left = append(left, holder{pid: pid, start: st.startTicks})
			}
		}
	}
	c.t.Errorf("processes left running under the controller's reaper: %s", describeProcs(left))
	killHolders(left)
	c.cmd.Process.Kill()
	<-done
}

// ---- watching several owners at once ----

// eventLog collects the events of lone Daemons and Managers.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) add(evs ...Event) {
	l.mu.Lock()
	l.evs = append(l.evs, evs...)
	l.mu.Unlock()
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.evs)
}

func (l *eventLog) String() string { return fmt.Sprint(l.all()) }

// drive polls the Managers and lone Daemons whenever one of them wakes
// (Manager events are read from Events into mlog, the events of ds[i]
// from Poll into dlogs[i], or dlogs[0] for all) until cond holds, failing
// after the deadline with describe(). Without a wake-up it looks again
// after a second: progress only then is reported (a lost wake-up).
func drive(t *testing.T, what string, ms []*Manager, mlog *eventLog, ds []*Daemon, dlogs []*eventLog,
	cond func() bool, describe func() string) {
	t.Helper()
	var cases []reflect.SelectCase
	for _, m := range ms {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(m.Wake())},
			reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(m.Events())})
	}
	for _, d := range ds {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(d.Wake())})
	}
	deadline := time.Now().Add(20 * time.Second)
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)})
	byTimer := false
	for {
		now := time.Now()
		for _, m := range ms {
			m.Poll(now)
			for drained := false; !drained; {
				select {
				case ev, ok := <-m.Events():
					if ok {
						mlog.add(ev)
					} else {
						drained = true
					}
				default:
					drained = true
				}
			}
		}
		for i, d := range ds {
			evs := d.Poll(now)
			if len(dlogs) > i {
				dlogs[i].add(evs...)
			} else if len(dlogs) > 0 {
				dlogs[0].add(evs...)
			}
		}
		if cond() {
			if byTimer {
				t.Logf("note: %s came about with no wake-up (seen after a 1s look)", what)
			}
			return
		}
		if now.After(deadline) {
			t.Fatalf("timed out waiting for %s; %s", what, describe())
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(min(time.Until(deadline)+time.Millisecond, time.Second))
		i, v, ok := reflect.Select(cases)
		byTimer = i == len(cases)-1
		if ok && v.Type() == reflect.TypeOf(Event{}) {
			mlog.add(v.Interface().(Event))
		}
	}
}

// closeManager kills the daemons a Manager has, polls them to Stopped and
// closes it (newManager's cleanup, for a Manager made by hand).
func closeManager(t *testing.T, m *Manager) {
	m.ForceStop()
	for _, d := range m.Daemons() {
		waitState(t, d, Stopped)
	}
	m.Close()
}

// specIn returns a spec in the same dirs as spec, with a new name.
func specIn(spec Spec, name string) Spec {
	s := spec
	s.Name = name
	return s
}

// ---- point 3: recovery after a controller killed at a random point ----

// recoveryVariant is one kind of controller work that is interrupted.
type recoveryVariant struct {
	name, mode string
	spec       func(base Spec, i int) Spec // the daemon of iteration i
}

// recoveryStats counts what the fresh controller found.
type recoveryStats struct {
	iterations, alive, noRecord, adoptedStarting, adoptedRunning, zombie, nothing int
	short                                                                         int // kills within 3ms of go
	lateSpawn                                                                     int // a lock holder after the stop
}

func TestRecoveryAfterControllerKilled(t *testing.T) {
	t.Parallel()
	n := 25
	if *long {
		n = 200
	}
	sleepCmd := func(s Spec) Spec { s.Func, s.Command = "", []string{"sleep", "300"}; return s }
	variants := []recoveryVariant{
		{"start", "ready-start", func(s Spec, i int) Spec {
			if i%3 != 0 {
				return sleepCmd(s)
			}
			return s
		}},
		{"restart", "ready-restart", func(s Spec, i int) Spec {
			if i%4 != 0 {
				return sleepCmd(s)
			}
			return s
		}},
		{"supervise", "supervise", func(s Spec, i int) Spec {
			s.Restart, s.RestartDelay, s.MaxRestartDelay, s.MaxRestarts = RestartAlways, time.Millisecond, 2*time.Millisecond, -1
			s.StartSecs = 5 * time.Millisecond
			if i%2 == 0 {
				s.Func, s.Command = "", []string{"sh", "-c", "sleep 0.01; exit 1"}
			} else {
				s.Func = "fail"
			}
			return s
		}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			base := testSpec(t, "rec-"+v.name, "sleep")
			base.StartSecs = -1
			r := launchHelper(t, []string{"LAUNCHER_TEST_CONTROLLER=reaper-loop", "LT_INNER=" + v.mode})
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 8))
			var st recoveryStats
			began := time.Now()
			failures, reported := 0, 0
			// The first few failures in full; the rest are counted.
			report := func(format string, args ...any) {
				t.Helper()
				if reported++; reported <= 4 {
					t.Errorf(format, args...)
				} else {
					t.Fail()
				}
			}
			for i := range n {
				spec := v.spec(base, i)
				env := specEnv(spec)
				if v.mode == "supervise" {
					env = append(env, "LT_START=1")
				}
				raw, _ := json.Marshal(env)
				// Half the kills land within 3ms of go (the spawn and the
				// records), half anywhere in 20ms.
				limit := 20 * time.Millisecond
				if rng.IntN(2) == 0 {
					limit = 3 * time.Millisecond
					st.short++
				}
				delay := time.Duration(rng.Int64N(int64(limit)))
				fmt.Fprintf(r.in, "run %s %s\n", delay, base64.StdEncoding.EncodeToString(raw))
				line := r.expect("the controller killed", func(l string) bool {
					return strings.HasPrefix(l, "killed ") || strings.HasPrefix(l, "error")
				}, 30*time.Second)
				if !strings.HasPrefix(line, "killed ") {
					t.Fatalf("iteration %d: %s", i, line)
				}
				if !checkRecovery(t, spec, i, rng, &st, report) {
					failures++
				}
			}
			t.Logf("%s: %d kills in %v (%d within 3ms of go): daemon alive at the check %d times (without a record naming it %d; adopted starting %d, running %d, zombie %d); nothing left %d times; a lock holder after the stop %d times",
				v.name, st.iterations, time.Since(began).Round(time.Millisecond), st.short, st.alive, st.noRecord,
				st.adoptedStarting, st.adoptedRunning, st.zombie, st.nothing, st.lateSpawn)
			if failures > 0 {
				t.Errorf("%s: %d of %d iterations failed", v.name, failures, n)
			}
		})
	}
}

// checkRecovery is the check after one killed controller: a fresh Daemon
// must see every process that holds the lock at fd 3 (State is not
// Stopped while one does), and Stop or ForceStop must leave none.
func checkRecovery(t *testing.T, spec Spec, i int, rng *rand.Rand, st *recoveryStats, report func(string, ...any)) bool {
	t.Helper()
	st.iterations++
	lock := filepath.Join(spec.PIDDir, spec.Name+".lock")
	h1 := lockHolders0(lock, false)
	id, idErr := readIdentityFile(filepath.Join(spec.PIDDir, spec.Name+".id"))
	d, err := New(spec)
	if err != nil {
		t.Fatalf("iteration %d: New: %v", i, err)
	}
	defer d.Close()
	h2 := lockHolders0(lock, false)
	s := d.Status()
	ok := true
	alive := both(h1, h2)
	switch {
	case len(alive) == 0:
		st.nothing++
	case s.State == Stopped:
		report("iteration %d: processes hold the lock at fd 3 before and after New, but the fresh Daemon says %v (problem %q); holders %s",
			i, s.State, s.Problem, describeProcs(alive))
		ok = false
	default:
		st.alive++
		if idErr != nil || !slices.ContainsFunc(alive, func(h holder) bool { return h.pid == id.PID }) {
			st.noRecord++
		}
		switch s.State {
		case Starting:
			st.adoptedStarting++
		case Running:
			st.adoptedRunning++
		case Zombie:
			st.zombie++
		}
		if s.State != Zombie && !slices.ContainsFunc(h2, func(h holder) bool { return h.pid == s.PID }) {
			report("iteration %d: adopted pid %d (%v), which does not hold the lock; holders %s", i, s.PID, s.State, describeProcs(h2))
			ok = false
		}
	}
	var serr error
	if rng.IntN(2) == 0 {
		serr = d.Stop()
	} else {
		serr = d.ForceStop()
	}
	if serr != nil {
		report("iteration %d: stop: %v", i, serr)
		ok = false
	}
	evs := waitState(t, d, Stopped)
	h3 := lockHolders0(lock, true)
	if len(h3) == 0 {
		return ok
	}
	// Something holds the lock after all: a spawn the killed controller
	// began (a child not yet exec'd, holding the lock at the controller's
	// fd) can become the daemon after the fresh Daemon looked. The Daemon
	// that was asked to stop it must notice it (its Poll), or at least a
	// fresh one must see it and stop it.
	st.lateSpawn++
	what := fmt.Sprintf("iteration %d: stopped (problem %q, events %v), but processes still hold the lock: %s",
		i, d.Status().Problem, evs, describeProcs(h3))
	deadline := time.Now().Add(2 * time.Second)
	for d.State() == Stopped && time.Now().Before(deadline) && len(lockHolders0(lock, true)) > 0 {
		evs = append(evs, d.Poll(time.Now())...)
		time.Sleep(5 * time.Millisecond) // a poll interval; the loop's conditions decide
	}
	h4 := lockHolders0(lock, false)
	switch {
	case d.State() != Stopped:
		t.Logf("%s; the Daemon then saw it: %v", what, evs)
		d.ForceStop()
		waitState(t, d, Stopped)
	case len(h4) > 0:
		report("%s; 2s later the Daemon still says stopped (problem %q), while %s holds the lock at fd 3",
			what, d.Status().Problem, describeProcs(h4))
		ok = false
		d2, err := New(spec)
		if err != nil {
			t.Fatal(err)
		}
		if d2.State() == Stopped {
			report("iteration %d: and a fresh Daemon does not see it either (problem %q)", i, d2.Status().Problem)
		} else {
			d2.ForceStop()
			waitState(t, d2, Stopped)
		}
		d2.Close()
	}
	if h5 := lockHolders0(lock, true); len(h5) > 0 {
		report("%s; left at the end: %s", what, describeProcs(h5))
		killHolders(h5)
		ok = false
	}
	return ok
}

// ---- point 5: one supervisor per daemon, hot standby ----

// parseEvent reads a controller's "event ..." line.
type ctlEvent struct {
	daemon       string
	from, to     string
	reason       string
	pid          int
	code, signal int
	exitKnown    bool
}

func parseEventLine(l string) (ctlEvent, bool) {
	f := strings.Fields(l)
	if len(f) != 7 || f[0] != "event" {
		return ctlEvent{}, false
	}
	ev := ctlEvent{daemon: f[1], from: f[2], to: f[3], reason: f[4]}
	ev.pid, _ = strconv.Atoi(f[5])
	if f[6] != "none" {
		ev.exitKnown = true
		fmt.Sscanf(f[6], "%d/%d", &ev.code, &ev.signal)
	}
	return ev, true
}

// Two supervising Managers on one daemon: the one in another process holds
// the lease, the one here stands by (observes, restarts nothing); a daemon
// killed is replaced exactly once, by the supervisor; when the supervisor
// is SIGKILLed, the standby takes over within 100ms (the median of several
// rounds) and restarts the daemon when it is killed next.
func TestHotStandby(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "standby", "")
	spec.Command = []string{"sleep", "300"}
	spec.StartSecs = 20 * time.Millisecond
	spec.Restart, spec.RestartDelay, spec.MaxRestarts = RestartAlways, 5*time.Millisecond, -1
	lock := filepath.Join(spec.PIDDir, spec.Name+".lock")
	const rounds = 5
	var takeovers []time.Duration
	for round := range rounds {
		last := round == rounds-1
		var env []string
		if round == 0 {
			env = append(env, "LT_START=1")
		}
		b := startCtl(t, "supervise", spec, false, env...)
		b.expect("B supervising", func(l string) bool { return strings.HasPrefix(l, `supervising "standby"`) }, 20*time.Second)
		a := NewManager(Options{})
		if last {
			t.Cleanup(func() { closeManager(t, a) })
		}
		if err := a.Add(spec); err != nil {
			t.Fatal(err)
		}
		var alog eventLog
		ad := daemonOf(a, spec.Name)
		describe := func() string {
			return fmt.Sprintf("A supervises %v, status %+v, events %v; B said %q", a.Supervising(), ad.Status(), &alog, b.said())
		}
		// The shared record names B once B has polled after taking the lease.
		drive(t, "A sees the daemon running, supervised by B", []*Manager{a}, &alog, nil, nil,
			func() bool { return ad.State() == Running && ad.Status().Supervisor == b.pid }, describe)
		if s := a.Supervising(); len(s) != 0 {
			t.Fatalf("round %d: the standby supervises %v while B holds the lease", round, s)
		}
		if round == 0 {
			// A daemon killed is replaced once, by B; A observes.
			old := ad.PID()
			before := ad.Status().Restarts
			killPID(t, old, syscall.SIGKILL)
			drive(t, "A sees the replacement running", []*Manager{a}, &alog, nil, nil,
				func() bool { return ad.State() == Running && ad.PID() != old && ad.PID() != 0 }, describe)
			newPID := ad.PID()
			b.expect("B's restart", func(l string) bool {
				ev, ok := parseEventLine(l)
				return ok && ev.to == "starting" && ev.pid == newPID
			}, 20*time.Second)
			for _, ev := range alog.all() {
				if (ev.To == Starting || ev.To == Running) && ev.From != Starting && ev.Reason != ReasonAdopted {
					t.Errorf("the standby started the daemon itself: %v (events %v)", ev, &alog)
				}
			}
			if hs := lockHolders0(lock, false); len(hs) != 1 || hs[0].pid != newPID {
				t.Errorf("after one kill, lock holders %s, want only %d", describeProcs(hs), newPID)
			}
			drive(t, "the restart counted in the shared record", []*Manager{a}, &alog, nil, nil,
				func() bool { return ad.Status().Restarts == before+1 }, describe)
			for _, l := range b.said() {
				if ev, ok := parseEventLine(l); ok && ev.to == "starting" && ev.pid != newPID && ev.pid != old {
					t.Errorf("B started a third process: %q (said %q)", l, b.said())
				}
			}
		}
		// Kill the supervisor: the standby takes over.
		// The clock starts when B has exited (its pidfd readable): the
		// kernel released its lease before that, in exit_files. The time a
		// SIGKILL takes to end a process is not the standby's.
		b.kill()
		t0 := time.Now()
		drive(t, "the standby takes over", []*Manager{a}, &alog, nil, nil,
			func() bool { return slices.Contains(a.Supervising(), spec.Name) }, describe)
		took := time.Since(t0)
		takeovers = append(takeovers, took)
		drive(t, "the shared record names the new supervisor", []*Manager{a}, &alog, nil, nil,
			func() bool { return ad.Status().Supervisor == os.Getpid() }, describe)
		if last {
			// Its first restart.
			old := ad.PID()
			t1 := time.Now()
			killPID(t, old, syscall.SIGKILL)
			var restartEv Event
			drive(t, "the new supervisor restarts the daemon", []*Manager{a}, &alog, nil, nil, func() bool {
				for _, ev := range alog.all() {
					if ev.To == Starting && ev.Reason == ReasonBackoff {
						restartEv = ev
						return true
					}
				}
				return false
			}, describe)
			t.Logf("after the takeover: killed %d, restarted as %d %v later", old, restartEv.PID, restartEv.Time.Sub(t1).Round(time.Microsecond))
			drive(t, "the restarted daemon running", []*Manager{a}, &alog, nil, nil,
				func() bool { return ad.State() == Running }, describe)
		} else {
			a.Close()
		}
	}
	sorted := slices.Clone(takeovers)
	slices.Sort(sorted)
	median := sorted[len(sorted)/2]
	t.Logf("takeover after the supervisor's exit: %v (median %v)", takeovers, median)
	if median > 100*time.Millisecond {
		t.Errorf("takeover median %v > 100ms (measured from the exit of the supervisor to Supervising() naming the daemon, Poll on Wake; all %v)", median, takeovers)
	}
}

// ---- point 5: intents ----

// With a supervisor present, another controller's Stop, Start and Restart
// are intents the supervisor carries out: the stop is requested-elsewhere
// on both sides (never crashed), the start is the supervisor's (and what
// it started is supervised: killed, it is restarted), the restart gives a
// new pid.
func TestIntentsCarriedOutBySupervisor(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	spec := Spec{Name: "intent", Command: []string{"sleep", "300"}, StartSecs: 20 * time.Millisecond,
		Restart: RestartOnFailure, RestartDelay: 5 * time.Millisecond, PIDDir: m.opts.PIDDir, LogDir: m.opts.LogDir}
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	md := daemonOf(m, spec.Name)
	var mlog, llog eventLog
	l := newDaemon(t, spec)
	ms, ls := []*Manager{m}, []*Daemon{l}
	describe := func() string {
		return fmt.Sprintf("manager: %v %+v events %v; lone: %+v events %v", md.State(), md.Status(), &mlog, l.Status(), &llog)
	}
	run := func(what string, cond func() bool) {
		t.Helper()
		drive(t, what, ms, &mlog, ls, []*eventLog{&llog}, cond, describe)
	}
	run("both see it running", func() bool { return md.State() == Running && l.State() == Running && l.PID() == md.PID() })
	if s := m.Supervising(); !slices.Contains(s, spec.Name) {
		t.Fatalf("the Manager supervises %v", s)
	}
	if st := l.Status(); st.Supervisor != os.Getpid() || !st.WantUp {
		t.Errorf("lone status %+v: want supervisor %d, wanted up", st, os.Getpid())
	}
	noCrash := func(what string, log *eventLog, from int) {
		t.Helper()
		for _, ev := range log.all()[from:] {
			if ev.Reason == ReasonCrashed || ev.Reason == ReasonUnknownExit || ev.Reason == ReasonExited {
				t.Errorf("%s: %v after %s (all events %v)", what, ev, what, log)
			}
		}
	}

	// Stop.
	mFrom, lFrom := len(mlog.all()), len(llog.all())
	pid := l.PID()
	if err := l.Stop(); err != nil {
		t.Fatal(err)
	}
	run("both see it stopped", func() bool { return md.State() == Stopped && l.State() == Stopped })
	if pidAlive(pid) {
		t.Fatalf("pid %d alive after the stop", pid)
	}
	for _, side := range []struct {
		name string
		log  *eventLog
		from int
	}{{"manager", &mlog, mFrom}, {"lone", &llog, lFrom}} {
		evs := side.log.all()[side.from:]
		if len(evs) == 0 || evs[len(evs)-1].To != Stopped || evs[len(evs)-1].Reason != ReasonRequestedElsewhere {
			t.Errorf("%s: events after the lone Stop %v, want the last stopped (requested-elsewhere)", side.name, evs)
		}
	}
	if st := m.Status()[0]; st.Reason != ReasonRequestedElsewhere || st.WantUp {
		t.Errorf("manager status %+v, want stopped (requested-elsewhere), wanted down", st)
	}
	noCrash("the stop", &mlog, mFrom)
	noCrash("the stop", &llog, lFrom)

	// Start.
	mFrom, lFrom = len(mlog.all()), len(llog.all())
	if err := l.Start(nil); err != nil {
		t.Fatal(err)
	}
	if st := l.State(); st != Stopped {
		t.Errorf("the lone Daemon is %v right after asking the supervisor to start", st)
	}
	run("both see it running again", func() bool {
		return md.State() == Running && l.State() == Running && l.PID() == md.PID() && l.PID() != pid
	})
	if evs := mlog.all()[mFrom:]; len(evs) == 0 || evs[0].To != Starting || evs[0].Reason != ReasonRequestedElsewhere {
		t.Errorf("manager events after the lone Start %v, want starting (requested-elsewhere) first", evs)
	}
	if evs := llog.all()[lFrom:]; len(evs) == 0 || evs[0].Reason != ReasonAdopted {
		t.Errorf("lone events after its Start %v, want adopted first", evs)
	}
	// What was started this way is supervised: killed, it is restarted.
	pid = md.PID()
	killPID(t, pid, syscall.SIGKILL)
	run("the supervisor restarts it", func() bool { return md.State() == Running && md.PID() != pid && l.PID() == md.PID() })

	// Restart.
	mFrom, lFrom = len(mlog.all()), len(llog.all())
	pid = md.PID()
	if err := l.Restart(nil); err != nil {
		t.Fatal(err)
	}
	run("both see a new pid running", func() bool {
		return md.State() == Running && l.State() == Running && md.PID() != pid && l.PID() == md.PID()
	})
	if evs := mlog.all()[mFrom:]; len(evs) == 0 || evs[0].To != Stopping || evs[0].Reason != ReasonRequestedElsewhere {
		t.Errorf("manager events after the lone Restart %v, want stopping (requested-elsewhere) first", evs)
	}
	noCrash("the restart (manager)", &mlog, mFrom)
	noCrash("the restart asked by the lone Daemon", &llog, lFrom)
}

// ---- point 4: a new instance is adopted, only the old one's processes are leftovers ----

// Two lone Daemons of one daemon. When one restarts it (or stops and
// starts it), the other adopts the new instance (reason adopted) instead
// of waiting on it as a leftover; over rounds mixing stop, start and
// restart from both sides nothing wedges in Zombie and no request fails
// with ErrZombie.
func TestNewInstanceAdoptedNotLeftover(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "twin", "")
	spec.Command = []string{"sleep", "300"}
	spec.StartSecs = 10 * time.Millisecond
	lock := filepath.Join(spec.PIDDir, spec.Name+".lock")
	a := newDaemon(t, spec)
	b := newDaemon(t, spec)
	ds := []*Daemon{a, b}
	var alog, blog eventLog
	logs := []*eventLog{&alog, &blog}
	pollBoth := func(what string, cond func() bool) {
		t.Helper()
		drive(t, what, nil, nil, ds, logs, cond, func() string {
			return fmt.Sprintf("A %+v events %v; B %+v events %v; lock holders %s", a.Status(), &alog, b.Status(), &blog,
				describeProcs(lockHolders0(lock, false)))
		})
	}
	agree := func(want State) func() bool {
		return func() bool {
			if a.State() != want || b.State() != want || a.PID() != b.PID() {
				return false
			}
			hs := lockHolders0(lock, false)
			if want == Stopped {
				return len(hs) == 0
			}
			return len(hs) == 1 && hs[0].pid == a.PID()
		}
	}
	if err := a.Start(nil); err != nil {
		t.Fatal(err)
	}
	pollBoth("both running", agree(Running))

	// B restarts it: A adopts B's new instance.
	old := a.PID()
	from := len(alog.all())
	if err := b.Restart(nil); err != nil {
		t.Fatal(err)
	}
	pollBoth("both running the new instance", func() bool { return agree(Running)() && a.PID() != old })
	evs := alog.all()[from:]
	if !slices.ContainsFunc(evs, func(ev Event) bool { return ev.Reason == ReasonAdopted && ev.PID == a.PID() }) {
		t.Errorf("A's events after B's restart %v: want the new instance %d adopted", evs, a.PID())
	}
	for _, ev := range evs {
		if ev.Reason == ReasonCrashed || ev.Reason == ReasonUnknownExit {
			t.Errorf("A's events after B's restart: %v (all %v)", ev, evs)
		}
	}

	// Rounds: one or two requests, from either side, back to back, then
	// both must agree with each other and with the lock.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	ops := []string{"stop", "start", "restart"}
	const rounds = 40
	var zombies int
	for round := range rounds {
		k := 1 + rng.IntN(2)
		var did []string
		for range k {
			side, op := rng.IntN(2), ops[rng.IntN(len(ops))]
			d := ds[side]
			var err error
			switch op {
			case "stop":
				err = d.Stop()
			case "start":
				err = d.Start(nil)
			case "restart":
				err = d.Restart(nil)
			}
			did = append(did, fmt.Sprintf("%c.%s", 'A'+side, op))
			if errors.Is(err, ErrZombie) {
				zombies++
				t.Errorf("round %d: %s: %v (A %+v, B %+v)", round, did[len(did)-1], err, a.Status(), b.Status())
			} else if err != nil {
				t.Errorf("round %d: %s: %v", round, did[len(did)-1], err)
			}
			logs[side].add(d.Poll(time.Now())...)
		}
		pollBoth(fmt.Sprintf("round %d (%v): both agree", round, did), func() bool {
			return agree(Running)() || agree(Stopped)()
		})
		// A lone start when both are stopped must work, whatever came before.
		if a.State() == Stopped {
			if err := ds[rng.IntN(2)].Start(nil); err != nil {
				t.Errorf("round %d: start after %v: %v", round, did, err)
			}
			pollBoth(fmt.Sprintf("round %d: started after %v", round, did), agree(Running))
		}
	}
	for i, log := range logs {
		for _, ev := range log.all() {
			if errors.Is(ev.Err, ErrZombie) {
				t.Errorf("%c: event %v", 'A'+i, ev)
			}
		}
	}
	t.Logf("%d rounds; ErrZombie %d times; A made %d events, B %d", rounds, zombies, len(alog.all()), len(blog.all()))
}

// ---- point 6: the supervisor's record is shared ----

// After the supervisor restarted a crashing daemon and gave up, a lone
// Daemon made afterwards, and a controller process that watched all
// along, show the restarts, the gave-up and the last exit from
// <name>.status.
func TestSharedStatusRecord(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	spec := Spec{Name: "crashy", Command: []string{"sh", "-c", "exit 7"}, StartSecs: -1, Restart: RestartOnFailure,
		RestartDelay: 5 * time.Millisecond, MaxRestartDelay: 10 * time.Millisecond, MaxRestarts: 2,
		PIDDir: m.opts.PIDDir, LogDir: m.opts.LogDir}
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	// A controller process watching all along (not the daemon's parent,
	// so it takes no exit status from the supervisor).
	c := startCtl(t, "adopt-watch", spec, true)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	var mlog eventLog
	md := daemonOf(m, spec.Name)
	drive(t, "the supervisor gives up", []*Manager{m}, &mlog, nil, nil, func() bool {
		return slices.ContainsFunc(mlog.all(), func(ev Event) bool { return ev.Reason == ReasonGaveUp }) && md.State() == Stopped
	}, func() string { return fmt.Sprintf("manager events %v", &mlog) })
	ms := m.Status()[0]
	check := func(who string, st Status) {
		t.Helper()
		if st.Restarts != 2 || !st.GaveUp || st.LastExit == nil || st.LastExit.Code != 7 || st.State != Stopped ||
			st.Supervisor != os.Getpid() || !st.WantUp {
			t.Errorf("%s: status %+v (last exit %v); want stopped, 2 restarts, gave up, last exit status 7, supervisor %d, wanted up (the supervisor's: %+v)",
				who, st, st.LastExit, os.Getpid(), ms)
		}
		if st.Reason != ms.Reason {
			t.Errorf("%s: reason %v, the supervisor's %v", who, st.Reason, ms.Reason)
		}
	}
	check("the supervisor", ms)
	fresh := newDaemon(t, spec)
	check("a lone Daemon made after", fresh.Status())
	// The watching controller saw the supervisor's crashes as crashes.
	for _, l := range c.said() {
		if ev, ok := parseEventLine(l); ok && ev.to == "zombie" && ev.reason != "crashed" && ev.reason != "start-failed" {
			t.Errorf("the watching controller says %q", l)
		}
	}
}

// A lone Daemon that watches, in the same process as the Manager that
// supervises the daemon, must not take the exit status of the Manager's
// child: the Manager reports the crash (exit status 7) and restarts it.
func TestObserverKeepsSupervisorsExitStatus(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	spec := Spec{Name: "crashy2", Command: []string{"sh", "-c", "exit 7"}, StartSecs: -1, Restart: RestartOnFailure,
		RestartDelay: 5 * time.Millisecond, MaxRestartDelay: 10 * time.Millisecond, MaxRestarts: 2,
		PIDDir: m.opts.PIDDir, LogDir: m.opts.LogDir}
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	watcher := newDaemon(t, spec)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	var mlog, wlog eventLog
	md := daemonOf(m, spec.Name)
	// The loop of a program with both: on each wake-up the watcher is
	// polled first (it could as well be another goroutine's).
	wakeM, wakeW, evM := m.Wake(), watcher.Wake(), m.Events()
	deadline := time.After(20 * time.Second)
	for {
		now := time.Now()
		wlog.add(watcher.Poll(now)...)
		m.Poll(now)
		for drained := false; !drained; {
			select {
			case ev := <-evM:
				mlog.add(ev)
			default:
				drained = true
			}
		}
		failure := func(r Reason) bool { return r == ReasonCrashed || r == ReasonStartFailed }
		if slices.ContainsFunc(mlog.all(), func(ev Event) bool { return ev.To == Zombie && !failure(ev.Reason) }) ||
			slices.ContainsFunc(mlog.all(), func(ev Event) bool { return ev.Reason == ReasonGaveUp }) && md.State() == Stopped {
			break
		}
		select {
		case <-wakeM:
		case <-wakeW:
		case ev := <-evM:
			mlog.add(ev)
		case <-deadline:
			t.Fatalf("timed out; manager events %v; watcher events %v", &mlog, &wlog)
		}
	}
	for _, ev := range mlog.all() {
		// Crashed, or start-failed when it exits before StartSecs -1
		// confirms it at the next tick: a failure either way, with its
		// real status.
		if ev.To == Zombie && (ev.Reason != ReasonCrashed && ev.Reason != ReasonStartFailed || ev.Exit == nil || ev.Exit.Code != 7) {
			t.Errorf("the supervisor reports %v for a process that exited with status 7 (a lone Daemon in the same process watched it; its events %v)", ev, &wlog)
		}
	}
}

// ---- point 7: the exit status of adopted daemons ----

// orphanDaemon has a controller process start spec's daemon (and wait
// until it runs), then SIGKILLs the controller. The orphaned daemon is
// then this process's child (direct: it is reaped only when the test
// does) or the child of a reaper standing in for init, which reaps it as
// soon as it ends. It returns the daemon's pid.
func orphanDaemon(t *testing.T, spec Spec, direct bool, env ...string) int {
	t.Helper()
	c := startCtl(t, "start-and-run", spec, direct, env...)
	f := strings.Fields(c.ready)
	pid, _ := strconv.Atoi(f[len(f)-1])
	if len(f) != 3 || pid <= 1 {
		t.Fatalf("starter said %q", c.ready)
	}
	c.kill()
	if direct {
		t.Cleanup(func() { reapOrphan(t, pid) })
	}
	if !pidAlive(pid) {
		t.Fatalf("daemon %d died with its controller", pid)
	}
	return pid
}

// exitCase is one way an adopted daemon ends, and who adopts it.
type exitCase struct {
	name       string
	fn         string // Func, or "" for the command sleep 300
	data       string
	sig        syscall.Signal // what the test sends the daemon
	reaped     bool           // the orphan's parent is a reaper standing in for init (else this test process)
	adopter    string         // "test": a Daemon here; "ctl": a controller process; "ctl-noconn": one without the proc connector
	wantReason []Reason       // acceptable reasons of the exit event
	wantCode   int            // with crashed: the exit code, or -1 and wantSig
	wantSig    syscall.Signal
}

// The exit status of a daemon whose controller was SIGKILLed is reported
// by whoever adopted it: as its parent (the orphan is reparented to this
// process, the subreaper), from the proc connector (root), from
// PIDFD_INFO_EXIT once init reaped it, or from a Func daemon's own
// <name>.exit; else it is unknown-exit, and never "exited".
func TestAdoptedExitStatus(t *testing.T) {
	t.Parallel()
	crashed := []Reason{ReasonCrashed}
	crashedOrUnknown := []Reason{ReasonCrashed, ReasonUnknownExit}
	for _, tc := range []exitCase{
		{"func-exit3/parent", "exitonusr1", "3", syscall.SIGUSR1, false, "test", crashed, 3, 0},
		{"func-exit3/connector", "exitonusr1", "3", syscall.SIGUSR1, true, "test", crashed, 3, 0},
		{"func-exit3/ctl-connector-unreaped", "exitonusr1", "3", syscall.SIGUSR1, false, "ctl", crashed, 3, 0},
		{"func-exit3/ctl-noconn-unreaped", "exitonusr1", "3", syscall.SIGUSR1, false, "ctl-noconn", crashedOrUnknown, 3, 0},
		{"func-exit3/ctl-noconn-reaped", "exitonusr1", "3", syscall.SIGUSR1, true, "ctl-noconn", crashed, 3, 0},
		{"func-error/ctl-noconn-unreaped", "exitonusr1", "1", syscall.SIGUSR1, false, "ctl-noconn", crashed, 1, 0},
		{"command-killed/parent", "", "", syscall.SIGKILL, false, "test", crashed, -1, syscall.SIGKILL},
		{"command-killed/connector", "", "", syscall.SIGKILL, true, "test", crashed, -1, syscall.SIGKILL},
		{"command-killed/ctl-connector-unreaped", "", "", syscall.SIGKILL, false, "ctl", crashed, -1, syscall.SIGKILL},
		{"command-killed/ctl-noconn-unreaped", "", "", syscall.SIGKILL, false, "ctl-noconn", crashedOrUnknown, -1, syscall.SIGKILL},
		{"command-killed/ctl-noconn-reaped", "", "", syscall.SIGKILL, true, "ctl-noconn", crashed, -1, syscall.SIGKILL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := testSpec(t, "ex", tc.fn)
			spec.StartSecs = -1
			if tc.fn == "" {
				spec.Command = []string{"sleep", "300"}
			}
			pid := orphanDaemon(t, spec, !tc.reaped, "LT_DATA="+tc.data)
			if tc.fn != "" {
				// It handles SIGUSR1 once it says so.
				var log []byte
				waitFor(t, "the daemon waiting for SIGUSR1", func() bool {
					log, _ = os.ReadFile(filepath.Join(spec.LogDir, spec.Name+".log"))
					return strings.Contains(string(log), "waiting for SIGUSR1")
				}, func() string { return strconv.Quote(string(log)) })
			}
			var reason Reason
			var exit *ExitStatus
			switch tc.adopter {
			case "test":
				d := newDaemon(t, spec)
				if d.State() != Running || d.PID() != pid {
					t.Fatalf("adopted: %v pid %d, want running %d", d.State(), d.PID(), pid)
				}
				killPID(t, pid, tc.sig)
				evs := waitState(t, d, Stopped)
				i := slices.IndexFunc(evs, func(ev Event) bool { return ev.To == Zombie })
				if i < 0 {
					t.Fatalf("no exit event in %v", evs)
				}
				reason, exit = evs[i].Reason, evs[i].Exit
			default:
				var env []string
				if tc.adopter == "ctl-noconn" {
					env = append(env, "LT_NOCONN=1")
				}
				c := startCtl(t, "adopt-watch", spec, true, env...)
				if f := strings.Fields(c.ready); len(f) != 4 || f[2] != "running" || f[3] != strconv.Itoa(pid) {
					t.Fatalf("adopter said %q, want running %d", c.ready, pid)
				}
				killPID(t, pid, tc.sig)
				l := c.expect("the exit event", func(l string) bool {
					ev, ok := parseEventLine(l)
					return ok && ev.to == "zombie"
				}, 20*time.Second)
				ev, _ := parseEventLine(l)
				for r := range numReasons {
					if r.String() == ev.reason {
						reason = r
					}
				}
				if ev.exitKnown {
					exit = &ExitStatus{Code: ev.code, Signal: syscall.Signal(ev.signal)}
				}
			}
			t.Logf("exit event: %v, %v", reason, exit)
			if !slices.Contains(tc.wantReason, reason) {
				t.Errorf("the adopter reports %v (%v), want one of %v", reason, exit, tc.wantReason)
			}
			if reason == ReasonCrashed && (exit == nil || exit.Code != tc.wantCode || exit.Signal != tc.wantSig) {
				t.Errorf("the adopter reports %v with %v, want code %d signal %d", reason, exit, tc.wantCode, tc.wantSig)
			}
			if reason == ReasonUnknownExit && exit != nil {
				t.Errorf("unknown-exit with a status %v", exit)
			}
		})
	}
}

// ---- point 8: adoption respects readiness ----

// sockIno returns the inode of the notify socket (0: none).
func sockIno(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return 0
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		t.Fatalf("%s is not a socket (mode %o)", path, st.Mode)
	}
	return st.Ino
}

func TestAdoptionRespectsReadiness(t *testing.T) {
	t.Parallel()
	readyFDSpec := func(t *testing.T, name string) (Spec, string) {
		spec := testSpec(t, name, "")
		flag := filepath.Join(filepath.Dir(spec.PIDDir), "go-ready")
		spec.Command = []string{"sh", "-c", "while [ ! -e " + flag + " ]; do sleep 0.005; done; echo ready >&4; exec sleep 300"}
		spec.Ready, spec.StartSecs = ReadyFD, -1
		return spec, flag
	}
	touch := func(t *testing.T, path string) {
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// ReadyFD, its starter killed before the daemon is ready: adopted as
	// starting, running when the line comes.
	t.Run("fd-not-yet-ready", func(t *testing.T) {
		t.Parallel()
		spec, flag := readyFDSpec(t, "rfd1")
		c := startCtl(t, "ready-start", spec, true)
		io.WriteString(c.in, "g")
		l := c.expect("started", func(l string) bool { return strings.HasPrefix(l, "started ") }, 20*time.Second)
		pid, _ := strconv.Atoi(strings.Fields(l)[1])
		if pid <= 1 || !strings.HasSuffix(l, "<nil>") {
			t.Fatalf("starter said %q", l)
		}
		c.kill()
		t.Cleanup(func() { reapOrphan(t, pid) })
		d := newDaemon(t, spec)
		var evs []Event
		evs = append(evs, d.Poll(time.Now())...)
		if d.State() != Starting || d.PID() != pid {
			t.Fatalf("adopted %v pid %d (events %v), want starting %d", d.State(), d.PID(), evs, pid)
		}
		// Nothing confirms it until it says so.
		for range 3 {
			evs = append(evs, d.Poll(time.Now())...)
		}
		if d.State() != Starting {
			t.Fatalf("%v before the daemon said it was ready (events %v)", d.State(), evs)
		}
		touch(t, flag)
		evs = append(evs, waitState(t, d, Running)...)
		if last := evs[len(evs)-1]; last.Reason != ReasonReady || last.PID != pid {
			t.Errorf("events %v, want running (ready) last", evs)
		}
	})

	// ReadyFD, ready before anyone adopted it; its starter never looked
	// (no readiness in the identity record): the <name>.ready file says so.
	t.Run("fd-ready-before-adopter", func(t *testing.T) {
		t.Parallel()
		spec, flag := readyFDSpec(t, "rfd2")
		touch(t, flag)
		c := startCtl(t, "start-only", spec, true)
		pid, _ := strconv.Atoi(strings.Fields(c.ready)[2])
		var b []byte
		waitFor(t, "the ready line in "+spec.Name+".ready", func() bool {
			b, _ = os.ReadFile(filepath.Join(spec.PIDDir, spec.Name+".ready"))
			return strings.Contains(string(b), "ready\n")
		}, func() string { return strconv.Quote(string(b)) })
		c.kill()
		t.Cleanup(func() { reapOrphan(t, pid) })
		if id, err := readIdentityFile(filepath.Join(spec.PIDDir, spec.Name+".id")); err != nil || !id.Ready.IsZero() {
			t.Fatalf("identity record %+v, %v: want one without a ready time", id, err)
		}
		d := newDaemon(t, spec)
		if st := d.Status(); st.State != Running || st.PID != pid {
			t.Fatalf("New: %+v, want running %d at once", st, pid)
		}
		if evs := d.Poll(time.Now()); len(evs) != 1 || evs[0].To != Running || evs[0].Reason != ReasonAdopted {
			t.Errorf("events %v, want one: running (adopted)", evs)
		}
	})

	// ReadyNotify, confirmed by its starter (recorded in the identity
	// record), which was then killed: running at once.
	t.Run("notify-ready-recorded", func(t *testing.T) {
		t.Parallel()
		spec := testSpec(t, "rn1", "notify")
		spec.Ready = ReadyNotify
		c := startCtl(t, "start-and-run", spec, true)
		pid, _ := strconv.Atoi(strings.Fields(c.ready)[2])
		c.kill()
		t.Cleanup(func() { reapOrphan(t, pid) })
		if id, err := readIdentityFile(filepath.Join(spec.PIDDir, spec.Name+".id")); err != nil || id.Ready.IsZero() {
			t.Fatalf("identity record %+v, %v: want the ready time its starter saw", id, err)
		}
		d := newDaemon(t, spec)
		if st := d.Status(); st.State != Running || st.PID != pid {
			t.Fatalf("New: %+v, want running %d at once", st, pid)
		}
	})

	// ReadyNotify, its starter killed before the daemon was ready, adopted
	// by a supervising Manager: starting, and running when READY=1 comes
	// to the socket the Manager bound.
	t.Run("notify-not-yet-ready-supervisor", func(t *testing.T) {
		t.Parallel()
		spec := testSpec(t, "rn2", "notifyto")
		spec.Ready = ReadyNotify
		flag := filepath.Join(filepath.Dir(spec.PIDDir), "go-ready")
		c := startCtl(t, "ready-start", spec, true, "LT_DATA="+flag)
		io.WriteString(c.in, "g")
		l := c.expect("started", func(l string) bool { return strings.HasPrefix(l, "started ") }, 20*time.Second)
		pid, _ := strconv.Atoi(strings.Fields(l)[1])
		if pid <= 1 {
			t.Fatalf("starter said %q", l)
		}
		c.kill()
		t.Cleanup(func() { reapOrphan(t, pid) })
		m := newManager(t, Options{})
		if err := m.Add(spec); err != nil {
			t.Fatal(err)
		}
		md := daemonOf(m, spec.Name)
		if md.State() != Starting || md.PID() != pid {
			t.Fatalf("the Manager adopted %v pid %d, want starting %d", md.State(), md.PID(), pid)
		}
		var mlog eventLog
		touch(t, flag)
		drive(t, "the supervisor sees READY=1", []*Manager{m}, &mlog, nil, nil, func() bool { return md.State() == Running },
			func() string { return fmt.Sprintf("events %v", &mlog) })
		// A lone Daemon now adopts it as running: the supervisor recorded it.
		l2 := newDaemon(t, spec)
		if st := l2.Status(); st.State != Running || st.PID != pid {
			t.Errorf("a lone Daemon after: %+v, want running %d", st, pid)
		}
	})

	// An observer beside the supervisor never binds the socket (nor
	// unbinds it at Close); the supervisor keeps getting READY=1 and
	// WATCHDOG=1; the observer learns of the readiness from the identity
	// record.
	t.Run("notify-observer-leaves-socket", func(t *testing.T) {
		t.Parallel()
		m := newManager(t, Options{})
		flag := filepath.Join(filepath.Dir(m.opts.PIDDir), "go-ready")
		const wd = 300 * time.Millisecond
		spec := Spec{Name: "rn3", Func: "notifyto", Ready: ReadyNotify, WatchdogSec: wd, Env: []string{"LT_NOTIFY_FLAG=" + flag},
			PIDDir: m.opts.PIDDir, LogDir: m.opts.LogDir}
		if err := m.Add(spec); err != nil {
			t.Fatal(err)
		}
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		md := daemonOf(m, spec.Name)
		pid := md.PID()
		sock := filepath.Join(spec.PIDDir, spec.Name+".notify")
		ino := sockIno(t, sock)
		if ino == 0 {
			t.Fatal("the supervisor did not bind the notify socket")
		}
		var mlog, llog eventLog
		l, err := New(spec) // closed below: the Manager's cleanup stops the daemon
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		if l.State() != Starting || l.PID() != pid {
			t.Fatalf("the observer adopted %v pid %d, want starting %d", l.State(), l.PID(), pid)
		}
		// An observer in another process, too.
		c := startCtl(t, "adopt-watch", spec, true)
		if f := strings.Fields(c.ready); len(f) != 4 || f[2] != "starting" {
			t.Errorf("the observer process said %q, want starting", c.ready)
		}
		if got := sockIno(t, sock); got != ino {
			t.Fatalf("the notify socket was bound again (inode %d, was %d) by an observer", got, ino)
		}
		describe := func() string {
			return fmt.Sprintf("supervisor %+v events %v; observer %+v events %v", md.Status(), &mlog, l.Status(), &llog)
		}
		touch(t, flag)
		touch(t, flag+".beat")
		drive(t, "both see it ready", []*Manager{m}, &mlog, []*Daemon{l}, []*eventLog{&llog},
			func() bool { return md.State() == Running && l.State() == Running }, describe)
		if evs := llog.all(); evs[len(evs)-1].Reason != ReasonReady {
			t.Errorf("observer events %v, want running (ready) last", evs)
		}
		c.kill()
		l.Close()
		if got := sockIno(t, sock); got != ino {
			t.Fatalf("after the observers closed, the notify socket has inode %d, was %d", got, ino)
		}
		// The beats keep reaching the supervisor: several watchdog periods
		// pass without a watchdog stop.
		since := time.Now()
		drive(t, "3 watchdog periods of beats", []*Manager{m}, &mlog, nil, nil, func() bool {
			if md.State() != Running || md.PID() != pid {
				t.Fatalf("the supervisor lost the beats: %s", describe())
			}
			return time.Since(since) > 3*wd
		}, describe)
		// And without them, the watchdog fires: the beats were what held it.
		os.Remove(flag + ".beat")
		drive(t, "the watchdog stop", []*Manager{m}, &mlog, nil, nil, func() bool {
			return slices.ContainsFunc(mlog.all(), func(ev Event) bool { return ev.Reason == ReasonWatchdog })
		}, describe)
	})
}

// ---- point 9: safe dirs ----

// victimProc starts a process of our own that leads its own session (as a
// daemon does) and is not any daemon's; it is killed at cleanup. extra
// files are given to it from fd 3 on.
func victimProc(t *testing.T, extra ...*os.File) int {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.ExtraFiles = extra
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

// forgeIdentity writes <name>.id and <name>.pid for pid, exactly as a
// controller that started it would have.
func forgeIdentity(t *testing.T, spec Spec, pid int) {
	t.Helper()
	st, err := readProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	id := identity{PID: pid, StartTicks: st.startTicks, BootID: bootID(), PIDNS: pidNS(), LockFD: lockFD,
		Started: startWallTime(st.startTicks), Token: newToken(), Command: []string{"sleep", "300"}}
	if err := writePIDFiles(filepath.Join(spec.PIDDir, spec.Name+".pid"), filepath.Join(spec.PIDDir, spec.Name+".id"), id); err != nil {
		t.Fatal(err)
	}
}

const nobody = 65534

// A pid dir or file another user could have written is refused with an
// error naming it (ErrUnsafe) or reported as a Problem; no process it
// names is adopted or signalled; the daemon can still be started where
// the dir is ours; other daemons in the dir are not held up.
func TestUnsafePidDir(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown)")
	}
	dirCases := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"group-writable", func(t *testing.T, dir string) { os.Chmod(dir, 0o775) }},
		{"other-writable", func(t *testing.T, dir string) { os.Chmod(dir, 0o757) }},
		{"owned-by-nobody", func(t *testing.T, dir string) { os.Chown(dir, nobody, nobody) }},
	}
	for _, tc := range dirCases {
		t.Run("dir-"+tc.name, func(t *testing.T) {
			t.Parallel()
			spec := testSpec(t, "unsafe", "sleep")
			// A daemon runs there, started while the dir was safe.
			d0 := newDaemon(t, spec)
			if err := d0.Start(nil); err != nil {
				t.Fatal(err)
			}
			waitState(t, d0, Running)
			pid := d0.PID()
			tc.setup(t, spec.PIDDir)
			t.Cleanup(func() { os.Chmod(spec.PIDDir, 0o755); os.Chown(spec.PIDDir, 0, 0) })
			d, err := New(spec)
			if err == nil {
				d.Close()
				t.Fatalf("New in an unsafe pid dir succeeded")
			}
			if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), spec.PIDDir) {
				t.Errorf("New: %v; want ErrUnsafe naming %s", err, spec.PIDDir)
			}
			m := NewManager(Options{})
			if err := m.Add(spec); !errors.Is(err, ErrUnsafe) {
				t.Errorf("Manager.Add: %v, want ErrUnsafe", err)
			}
			m.Close()
			if !pidAlive(pid) {
				t.Fatalf("the daemon %d was signalled", pid)
			}
		})
	}

	// A sticky world-writable dir (as /tmp) is fine while the files are ours.
	t.Run("dir-sticky", func(t *testing.T) {
		t.Parallel()
		spec := testSpec(t, "sticky", "sleep")
		if err := unix.Chmod(spec.PIDDir, 0o1777); err != nil {
			t.Fatal(err)
		}
		d := newDaemon(t, spec)
		if err := d.Start(nil); err != nil {
			t.Fatal(err)
		}
		waitState(t, d, Running)
		d2 := newDaemon(t, spec)
		if st := d2.Status(); st.State != Running || st.PID != d.PID() || st.Problem != "" {
			t.Errorf("a second Daemon in a sticky dir: %+v", st)
		}
		// Another user plants a daemon's files there (as anyone can in a
		// sticky dir): a lock held by its process, records naming it.
		intruder := specIn(spec, "intruder")
		lock := filepath.Join(spec.PIDDir, "intruder.lock")
		f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		v := victimProc(t, f)
		f.Close()
		forgeIdentity(t, intruder, v)
		for _, ext := range []string{".lock", ".pid", ".id"} {
			if err := os.Chown(filepath.Join(spec.PIDDir, "intruder"+ext), nobody, nobody); err != nil {
				t.Fatal(err)
			}
		}
		di := newDaemon(t, intruder)
		if st := di.Status(); st.State != Stopped || st.PID != 0 || !strings.Contains(st.Problem, "uid 65534") {
			t.Errorf("a daemon whose files another user wrote: %+v, want stopped with a problem", st)
		}
		di.Stop()
		di.ForceStop()
		if !pidAlive(v) {
			t.Fatalf("the process %d named by another user's files was signalled", v)
		}
		if st := d2.Status(); st.State != Running || st.Problem != "" {
			t.Errorf("the first daemon beside the planted files: %+v", st)
		}
	})

	// Records and locks written or owned by another user.
	fileCases := []struct {
		name  string
		plant func(t *testing.T, spec Spec) int // returns the victim
	}{
		{"records-owned-by-nobody", func(t *testing.T, spec Spec) int {
			v := victimProc(t)
			os.WriteFile(filepath.Join(spec.PIDDir, spec.Name+".lock"), nil, 0o644)
			forgeIdentity(t, spec, v)
			for _, ext := range []string{".pid", ".id"} {
				if err := os.Chown(filepath.Join(spec.PIDDir, spec.Name+ext), nobody, nobody); err != nil {
					t.Fatal(err)
				}
			}
			return v
		}},
		{"records-group-writable", func(t *testing.T, spec Spec) int {
			v := victimProc(t)
			os.WriteFile(filepath.Join(spec.PIDDir, spec.Name+".lock"), nil, 0o644)
			forgeIdentity(t, spec, v)
			for _, ext := range []string{".pid", ".id"} {
				if err := os.Chmod(filepath.Join(spec.PIDDir, spec.Name+ext), 0o664); err != nil {
					t.Fatal(err)
				}
			}
			return v
		}},
		{"lock-owned-by-nobody-held", func(t *testing.T, spec Spec) int {
			lock := filepath.Join(spec.PIDDir, spec.Name+".lock")
			f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := os.Chown(lock, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			v := victimProc(t, f) // holds it at fd 3, as a daemon would
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
				t.Fatal(err)
			}
			forgeIdentity(t, spec, v)
			return v
		}},
	}
	for _, tc := range fileCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := testSpec(t, "forged", "")
			spec.Command = []string{"sleep", "300"}
			victim := tc.plant(t, spec)
			other := newDaemon(t, specIn(spec, "other"))
			if err := other.Start(nil); err != nil {
				t.Fatal(err)
			}
			d, err := New(spec)
			if err != nil {
				if !errors.Is(err, ErrUnsafe) {
					t.Fatalf("New: %v, want no error or ErrUnsafe", err)
				}
				t.Logf("New: %v", err)
			} else {
				t.Cleanup(func() { cleanupDaemon(t, d) })
				st := d.Status()
				if st.State != Stopped || st.PID != 0 || !strings.Contains(st.Problem, spec.PIDDir) {
					t.Errorf("status %+v, want stopped, no pid, a problem naming the file", st)
				}
				t.Logf("problem: %s", st.Problem)
				d.Poll(time.Now())
				d.Stop()
				d.ForceStop()
				if err := d.Signal(syscall.SIGKILL); !errors.Is(err, ErrNotRunning) {
					t.Errorf("Signal: %v, want ErrNotRunning", err)
				}
				err := d.Start(nil)
				switch {
				case tc.name == "lock-owned-by-nobody-held":
					if !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), ".lock") {
						t.Errorf("Start with another user's lock: %v, want ErrUnsafe naming the lock", err)
					}
				case err != nil:
					t.Errorf("Start: %v", err)
				case d.PID() == victim:
					t.Errorf("Start adopted the victim %d", victim)
				}
			}
			if !pidAlive(victim) {
				t.Fatalf("the process %d named by unsafe files was signalled", victim)
			}
			// The other daemon in the same dir is not held up.
			waitState(t, other, Running)
			if st := other.Status(); st.Problem != "" {
				t.Errorf("the other daemon: %+v", st)
			}
			if err := other.Stop(); err != nil {
				t.Fatal(err)
			}
			waitState(t, other, Stopped)
		})
	}

	// The control: the same forged identity, but in files only we could
	// have written, is believed (the process leads its own session and
	// matches the record): so it is the ownership that protected it above.
	t.Run("records-ours-control", func(t *testing.T) {
		t.Parallel()
		spec := testSpec(t, "forged", "")
		spec.Command = []string{"sleep", "300"}
		v := victimProc(t)
		os.WriteFile(filepath.Join(spec.PIDDir, spec.Name+".lock"), nil, 0o644)
		forgeIdentity(t, spec, v)
		d, err := New(spec)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if st := d.Status(); st.State == Stopped || st.PID != v {
			t.Errorf("status %+v, want the process %d adopted by its identity record", st, v)
		}
	})
}

// ---- point 9: a look creates nothing; a read-only pid dir ----

// listing describes every entry of dir (name, type, inode, size, mtime).
func listing(t *testing.T, dir string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range ents {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, e.Name()), &st); err != nil {
			continue
		}
		fmt.Fprintf(&b, "%s %o %d %d %d.%09d\n", e.Name(), st.Mode, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
	}
	return b.String()
}

// New, Status, Poll and Close only look: no dir, lock, socket or file is
// made. On a read-only pid dir a running daemon is found and stopped, and
// a junk pid file of another daemon there does not hold up the first.
func TestReadOnlyInspection(t *testing.T) {
	t.Parallel()
	t.Run("creates-nothing", func(t *testing.T) {
		t.Parallel()
		base := t.TempDir()
		for _, s := range []Spec{
			{Name: "look", Func: "sleep"},
			{Name: "looknotify", Func: "notify", Ready: ReadyNotify},
			{Name: "lookfd", Func: "notifyfd", Ready: ReadyFD, InputFIFO: true},
		} {
			s.PIDDir, s.LogDir = base+"/run", base+"/log"
			d, err := New(s)
			if err != nil {
				t.Fatal(err)
			}
			d.Poll(time.Now())
			if st := d.Status(); st.State != Stopped {
				t.Errorf("%s: %+v", s.Name, st)
			}
			d.Close()
			if ents, _ := os.ReadDir(base); len(ents) != 0 {
				t.Fatalf("%s: New on a missing pid dir made %v", s.Name, ents)
			}
			os.Mkdir(s.PIDDir, 0o755)
			before := listing(t, s.PIDDir)
			d, err = New(s)
			if err != nil {
				t.Fatal(err)
			}
			d.Wake()
			d.Events()
			d.Poll(time.Now())
			d.Status()
			d.IsEnabled()
			d.Close()
			if after := listing(t, s.PIDDir); after != before {
				t.Errorf("%s: a look changed the pid dir:\n%s\nwas\n%s", s.Name, after, before)
			}
			os.Remove(s.PIDDir)
		}
	})
	t.Run("read-only-mount", func(t *testing.T) {
		t.Parallel()
		if os.Geteuid() != 0 {
			t.Skip("needs root (mount)")
		}
		spec := testSpec(t, "ro", "sleep")
		pid := startOrphan(t, spec) // running, its controller gone
		junk := specIn(spec, "junk")
		if err := os.WriteFile(filepath.Join(spec.PIDDir, "junk.pid"), []byte("garbage\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(spec.PIDDir, "junk.lock"), nil, 0o644)
		notify := specIn(spec, "ronotify")
		notify.Func, notify.Ready = "notify", ReadyNotify
		if out, err := exec.Command("mount", "--bind", spec.PIDDir, spec.PIDDir).CombinedOutput(); err != nil {
			t.Skipf("mount --bind: %v %s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("umount", spec.PIDDir).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v %s", spec.PIDDir, err, out)
			}
		})
		if out, err := exec.Command("mount", "-o", "remount,bind,ro", spec.PIDDir).CombinedOutput(); err != nil {
			t.Fatalf("remount read-only: %v %s", err, out)
		}
		if err := os.WriteFile(filepath.Join(spec.PIDDir, "probe"), nil, 0o644); err == nil {
			t.Fatal("the pid dir is still writable")
		}
		before := listing(t, spec.PIDDir)
		d := newDaemon(t, spec)
		dj := newDaemon(t, junk)
		dn := newDaemon(t, notify)
		var evs []Event
		evs = append(evs, d.Poll(time.Now())...)
		dj.Poll(time.Now())
		dn.Poll(time.Now())
		if st := d.Status(); (st.State != Running && st.State != Starting) || st.PID != pid || st.Problem != "" {
			t.Errorf("status on a read-only dir: %+v, want running %d", st, pid)
		}
		if st := dj.Status(); st.State != Stopped || st.Problem == "" {
			t.Errorf("the junk daemon: %+v, want stopped with a problem", st)
		}
		if st := dn.Status(); st.State != Stopped || st.Problem != "" {
			t.Errorf("a daemon with no files: %+v", st)
		}
		if after := listing(t, spec.PIDDir); after != before {
			t.Errorf("looking changed the read-only dir:\n%s\nwas\n%s", after, before)
		}
		if err := d.Stop(); err != nil {
			t.Errorf("Stop on a read-only dir: %v", err)
		}
		evs = append(evs, waitState(t, d, Stopped)...)
		if pidAlive(pid) {
			t.Fatalf("pid %d alive after Stop (events %v)", pid, evs)
		}
		if last := evs[len(evs)-1]; last.Reason != ReasonRequested {
			t.Errorf("events %v, want stopped (requested) last", evs)
		}
		// A fresh look after: stopped, and the stale records (which could
		// not be removed) name nobody.
		d2 := newDaemon(t, spec)
		if st := d2.Status(); st.State != Stopped || st.PID != 0 {
			t.Errorf("after the stop: %+v", st)
		}
		if st := dj.Status(); st.State != Stopped {
			t.Errorf("the junk daemon after: %+v", st)
		}
	})
}

// A force-stop asked of a supervisor is a kill there too, never a SIGTERM
// that races the asker's SIGKILL: the daemon here ignores SIGTERM and has a
// StopTimeout longer than the test waits, so only a kill stops it in time.
func TestForceStopIntentKills(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "deafkill", "deaf")
	spec.StartSecs, spec.StopTimeout = -1, time.Hour
	m := newManager(t, Options{PIDDir: spec.PIDDir, LogDir: spec.LogDir})
	if err := m.Add(spec); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	d := daemonOf(m, spec.Name)
	w := &watcher{t: t, m: m}
	w.until("running", func() bool { return d.State() == Running })
	waitFor(t, "the daemon to ignore SIGTERM", func() bool {
		b, _ := os.ReadFile(d.LogFile())
		return strings.Contains(string(b), "deaf\n")
	}, func() string { return fmt.Sprintf("%+v", d.Status()) })
	// What an asker's ForceStop writes before it kills (it is not run
	// here: the supervisor alone must kill).
	f := newFiles(spec)
	wnt, err := f.readWant()
	if err != nil {
		t.Fatal(err)
	}
	wnt.Up, wnt.Kill = false, true
	if err := f.writeWant(wnt); err != nil {
		t.Fatal(err)
	}
	w.until("killed by the supervisor", func() bool { return d.State() == Stopped })
	if ex := d.Status().LastExit; ex == nil || ex.Signal != syscall.SIGKILL {
		t.Errorf("exit %v, want killed by SIGKILL", ex)
	}
	if got := parseWant(want{Kill: true}.format()); !got.Kill || got.Up {
		t.Errorf("want round trip: %+v", got)
	}
}

// A stop of a daemon and what it runs after, asked of another controller's
// supervisor (a CLI beside up), is carried out in reverse order: what runs
// after db stops before db is signalled, however the names were given.
func TestStopIntentsInReverseOrder(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	db := Spec{Name: "db", Command: []string{"sleep", "300"}, StartSecs: -1, PIDDir: m.opts.PIDDir, LogDir: m.opts.LogDir}
	web := db
	web.Name, web.After = "web", []string{"db"}
	asker := newManager(t, Options{PIDDir: m.opts.PIDDir, LogDir: m.opts.LogDir, NoSupervise: true})
	for _, mm := range []*Manager{m, asker} {
		for _, s := range []Spec{db, web} {
			if err := mm.Add(s); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	var mlog eventLog
	describe := func() string { return fmt.Sprintf("%+v; events %v", m.Status(), &mlog) }
	running := func(name string) bool { return daemonOf(m, name).State() == Running }
	drive(t, "both running", []*Manager{m}, &mlog, nil, nil, func() bool { return running("db") && running("web") }, describe)
	from := len(mlog.all())
	if err := asker.Stop("db", "web"); err != nil {
		t.Fatal(err)
	}
	stopped := func(name string) bool { return daemonOf(m, name).State() == Stopped }
	drive(t, "both stopped", []*Manager{m}, &mlog, nil, nil, func() bool { return stopped("db") && stopped("web") }, describe)
	webGone, dbStopping := -1, -1
	for i, ev := range mlog.all()[from:] {
		switch {
		case ev.Daemon == "web" && ev.To == Stopped && webGone < 0:
			webGone = i
		case ev.Daemon == "db" && ev.To == Stopping && dbStopping < 0:
			dbStopping = i
		}
	}
	if webGone < 0 || dbStopping < webGone {
		t.Fatalf("db was signalled before web was gone: events %v", mlog.all()[from:])
	}
}
