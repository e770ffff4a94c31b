//go:build linux

package launcher

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestStartStop(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, testSpec(t, "web", "echo"))
	d.ReadLog()
	if err := d.Start([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	pid := d.PID()
	if pid <= 1 || !d.IsRunning() {
		t.Fatalf("after Start: pid %d, running %v", pid, d.IsRunning())
	}
	evs := waitState(t, d, Running)
	waitLog(t, d, `data="hello"`) // the helper is up and handles SIGTERM now
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	evs = append(evs, waitState(t, d, Stopped)...)
	var got []string
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Errorf("event %d has Seq %d", i, e.Seq)
		}
		got = append(got, e.From.String()+">"+e.To.String()+":"+e.Reason.String())
	}
	want := "stopped>starting:requested starting>running:ready running>stopping:requested stopping>zombie:requested zombie>stopped:requested"
	if strings.Join(got, " ") != want {
		t.Errorf("events:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if pidAlive(pid) {
		t.Errorf("pid %d still alive", pid)
	}
	b, _ := os.ReadFile(d.LogFile())
	if i, j := strings.Index(string(b), " launcher: starting web\n"), strings.Index(string(b), `data="hello"`); i < 0 || j < i {
		t.Errorf("the start marker is not before the daemon's first line:\n%s", b)
	}
	for _, want := range []string{" launcher: starting web\n", `data="hello"`,
		" launcher: pid " + strconv.Itoa(pid) + " exited with status 0\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("log lacks %q:\n%s", want, b)
		}
	}
}

// The log dir removed after New is made again at Start; a log that is not
// a regular file is a clear error.
func TestLogDirGoneAndLogNotAFile(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "lost", "sleep")
	d := newDaemon(t, spec)
	os.RemoveAll(spec.LogDir)
	if err := d.Start(nil); err != nil {
		t.Fatalf("Start after the log dir went: %v", err)
	}
	d.ForceStop()
	waitState(t, d, Stopped)
	os.Remove(d.LogFile())
	os.Mkdir(d.LogFile(), 0o755)
	err := d.Start(nil)
	if err == nil || !strings.Contains(err.Error(), "is a directory") || !strings.Contains(err.Error(), "lost") {
		t.Fatalf("Start with a directory as log = %v", err)
	}
	if d.State() != Stopped {
		t.Fatalf("state %v", d.State())
	}
}

func TestStartCommandNotFound(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "nope", "")
	spec.Func, spec.Command = "", []string{"/nonexistent/program"}
	d := newDaemon(t, spec)
	err := d.Start(nil)
	if !errors.Is(err, ErrExec) || !strings.Contains(err.Error(), "nope") || !strings.Contains(err.Error(), "/nonexistent/program") {
		t.Fatalf("Start = %v, want ErrExec naming daemon and program", err)
	}
	if d.State() != Stopped {
		t.Fatalf("state %v", d.State())
	}
	for _, f := range []string{d.PIDFile(), strings.TrimSuffix(d.PIDFile(), ".pid") + ".id"} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s claims a process after a failed start: %v", f, err)
		}
	}
}

func TestStopTimeoutEscalates(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "stubborn", "stubborn")
	spec.StopTimeout = 100 * time.Millisecond
	d := newDaemon(t, spec)
	d.ReadLog()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, "ready")
	d.Stop()
	evs := waitState(t, d, Stopped)
	exit := evs[len(evs)-2]
	if exit.To != Zombie || exit.Reason != ReasonStopTimeout || exit.Exit == nil || exit.Exit.Signal != syscall.SIGKILL {
		t.Fatalf("events %v, want stopping → zombie with a SIGKILL exit, reason stop-timeout", evs)
	}
}

func TestCommandDaemonStdinAndFDs(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "cat", "")
	// cat copies the data to the log; then the shell lists its open fds
	// (a glob: no child process that could outlive it); then it waits.
	spec.Func, spec.Command = "", []string{"sh", "-c", `cat; for f in /proc/$$/fd/*; do printf "%s " "${f##*/}"; done; echo; exec sleep 300`}
	d := newDaemon(t, spec)
	d.ReadLog()
	if err := d.Start([]byte("payload-123\n")); err != nil {
		t.Fatal(err)
	}
	log := waitLog(t, d, "payload-123\n0 1 2 3 ")
	if !strings.Contains(log, "launcher: starting cat\n") {
		t.Errorf("no start marker in log %q", log)
	}
	// The listing is 0 1 2 3 plus the one the glob itself opened; no fd of
	// the controller's may have leaked in.
	if i := strings.Index(log, "0 1 2 3 "); i < 0 || strings.Count(strings.SplitN(log[i:], "\n", 2)[0], " ") > 5 {
		t.Errorf("fds of the daemon: %q", log)
	}
	st, _ := readProcStat(d.PID())
	if st.pgrp != d.PID() {
		t.Errorf("daemon pgrp %d, want its own group %d", st.pgrp, d.PID())
	}
}

func TestStartFailed(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "failing", "fail")
	spec.StartSecs = time.Minute
	d := newDaemon(t, spec)
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	evs := waitState(t, d, Stopped)
	if len(evs) != 3 || evs[1].Reason != ReasonStartFailed || evs[1].Exit == nil || evs[1].Exit.Code != 3 {
		t.Fatalf("events %v, want starting → zombie (start-failed, exit status 3) → stopped", evs)
	}
}

func TestCrashedAndExited(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, cmd string
		reason    Reason
		exit      string
	}{
		{"exit0", "exit 0", ReasonExited, "exit status 0"},
		{"exit4", "exit 4", ReasonCrashed, "exit status 4"},
		{"segv", "kill -SEGV $$", ReasonCrashed, "signal: segmentation fault"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := testSpec(t, "crash", "")
			spec.StartSecs = -1
			// The daemon waits for the flag file, so it is confirmed
			// running before it ends.
			flag := t.TempDir() + "/go"
			spec.Func, spec.Command = "", []string{"sh", "-c", "while [ ! -e " + flag + " ]; do sleep 0.01; done; " + tc.cmd}
			d := newDaemon(t, spec)
			if err := d.Start(nil); err != nil {
				t.Fatal(err)
			}
			waitState(t, d, Running)
			os.WriteFile(flag, nil, 0o644)
			evs := waitState(t, d, Stopped)
			if len(evs) != 2 || evs[0].Reason != tc.reason || !strings.HasPrefix(evs[0].Exit.String(), tc.exit) {
				t.Fatalf("events %v, want running → zombie (%v, %s) → stopped", evs, tc.reason, tc.exit)
			}
		})
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, testSpec(t, "re", "echo"))
	if err := d.Start([]byte("one")); err != nil {
		t.Fatal(err)
	}
	first := d.PID()
	waitState(t, d, Running)
	d.ReadLog()
	if err := d.Restart([]byte("two")); err != nil {
		t.Fatal(err)
	}
	evs := waitState(t, d, Running)
	if d.PID() == first || pidAlive(first) {
		t.Fatalf("restart kept pid %d (now %d)", first, d.PID())
	}
	var path []string
	for _, e := range evs {
		path = append(path, e.To.String())
	}
	if got := strings.Join(path, ","); got != "stopping,zombie,stopped,starting,running" {
		t.Fatalf("restart went %s", got)
	}
	waitLog(t, d, `data="two"`)
	// Start while stopping is a restart too.
	second := d.PID()
	d.Stop()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	evs = waitState(t, d, Running)
	if d.PID() == second || len(evs) != 5 {
		t.Fatalf("Start while stopping: pid %d (was %d), events %v", d.PID(), second, evs)
	}
}

func TestForceStopAndSignal(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, testSpec(t, "hard", "stubborn"))
	d.ReadLog()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, "ready")
	if err := d.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, "ignoring stop")
	if err := d.ForceStop(); err != nil {
		t.Fatal(err)
	}
	evs := waitState(t, d, Stopped)
	var exit *ExitStatus
	for _, e := range evs {
		if e.Exit != nil {
			exit = e.Exit
		}
	}
	if exit == nil || exit.Signal != syscall.SIGKILL {
		t.Fatalf("events %v, want a SIGKILL exit", evs)
	}
	if err := d.Signal(syscall.SIGTERM); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Signal after stop = %v", err)
	}
}

// IsRunning must say false for a child that has exited but is not yet
// reaped, which kill(pid, 0) reports as alive.
func TestIsRunningSeesUnreapedExit(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "quick", "fail")
	d := newDaemon(t, spec)
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	pid := d.PID()
	waitFor(t, "the child to become a zombie", func() bool {
		st, err := readProcStat(pid)
		return err == nil && st.state == 'Z'
	}, func() string { st, err := readProcStat(pid); return fmt.Sprint(st, err) })
	if err := unix.Kill(pid, 0); err != nil {
		t.Fatalf("kill(pid, 0) = %v; the test assumes it succeeds on a zombie", err)
	}
	// The leader shows Z while the rest of its threads finish exiting; the
	// exit is complete a moment later.
	waitFor(t, "IsRunning to say false", func() bool { return !d.IsRunning() }, func() string { return "true" })
	if err := unix.Kill(pid, 0); err != nil {
		t.Fatalf("kill(pid, 0) = %v; it should still find the unreaped process", err)
	}
	if d.State() != Starting {
		t.Fatalf("IsRunning changed the state to %v", d.State())
	}
	waitState(t, d, Stopped)
}

func TestDisable(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, testSpec(t, "off", "sleep"))
	if !d.IsEnabled() {
		t.Fatal("new daemon disabled")
	}
	if err := d.Disable(); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(nil); !errors.Is(err, ErrDisabled) || !strings.Contains(err.Error(), "off") {
		t.Fatalf("Start of disabled = %v", err)
	}
	if d.IsEnabled() || d.State() != Stopped {
		t.Fatal("still enabled or not stopped")
	}
	if err := d.Enable(); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
}

// Stop with KillGroup reaches what the daemon started; a daemon whose
// children outlive it is a zombie until they are gone.
func TestZombieLeftovers(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "leaver", "")
	spec.StartSecs = -1
	spec.Func, spec.Command = "", []string{"sh", "-c", "sleep 300 & echo child=$!; exit 0"}
	d := newDaemon(t, spec)
	d.ReadLog()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	log := waitLog(t, d, "child=")
	child, _ := strconv.Atoi(strings.Fields(log[strings.Index(log, "child=")+6:])[0])
	t.Cleanup(func() { reapOrphan(t, child) })
	waitState(t, d, Zombie)
	if err := d.Start(nil); !errors.Is(err, ErrZombie) {
		t.Fatalf("Start of a zombie = %v", err)
	}
	if d.PID() != 0 || d.IsRunning() {
		t.Fatalf("zombie has pid %d, running %v", d.PID(), d.IsRunning())
	}
	if !pidAlive(child) {
		t.Fatal("the leftover died early")
	}
	d.Stop()
	evs := waitState(t, d, Stopped)
	if pidAlive(child) {
		t.Fatalf("leftover %d alive after stop; events %v", child, evs)
	}
}

// Reaping takes only the daemon's own pid: an exec.Cmd in the same program
// keeps getting its own exit status while daemons come and go.
func TestExecCmdCoexists(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, testSpec(t, "neighbour", "fail"))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			d.Start(nil)
			waitState(t, d, Stopped)
		}
	}()
	for i := range 20 {
		cmd := exec.Command("sh", "-c", "exit "+strconv.Itoa(i%7+1))
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != i%7+1 {
			t.Errorf("exec.Cmd %d: %v, want exit status %d", i, err, i%7+1)
		}
	}
	wg.Wait()
}

// Deadlines are measured on the clock given to Poll, so a test (or a
// caller with its own clock) can move time without waiting for it.
func TestPollClockInjected(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "clock", "stubborn")
	spec.StartSecs = time.Hour
	spec.StopTimeout = time.Hour
	d := newDaemon(t, spec)
	d.ReadLog()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	d.Poll(t0) // the StartSecs deadline is the start's time + 1h
	if d.Poll(t0.Add(59 * time.Minute)); d.State() != Starting {
		t.Fatalf("state %v before StartSecs passed", d.State())
	}
	if evs := d.Poll(t0.Add(time.Hour)); d.State() != Running || len(evs) != 1 || !evs[0].Time.Equal(t0.Add(time.Hour)) {
		t.Fatalf("state %v, events %v after StartSecs", d.State(), evs)
	}
	waitLog(t, d, "ready")
	d.Stop() // the StopTimeout deadline is the request's time + 1h
	t1 := time.Now()
	waitLog(t, d, "ignoring stop")
	if d.Poll(t1.Add(59 * time.Minute)); d.State() != Stopping || !d.IsRunning() {
		t.Fatalf("state %v, running %v before StopTimeout", d.State(), d.IsRunning())
	}
	d.Poll(t1.Add(time.Hour)) // SIGKILL
	var evs []Event
	waitFor(t, "the SIGKILL exit", func() bool {
		evs = append(evs, d.Poll(t1.Add(time.Hour))...)
		return d.State() == Stopped
	}, func() string { return fmt.Sprint(evs) })
	if evs[0].Reason != ReasonStopTimeout || evs[0].Exit.Signal != syscall.SIGKILL {
		t.Fatalf("events %v", evs)
	}
}

// childOf starts spec's daemon, whose command prints "child=PID" of a
// child it keeps, and returns that pid (reaped at cleanup if orphaned).
func childOf(t *testing.T, d *Daemon) int {
	t.Helper()
	d.ReadLog()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	log := waitLog(t, d, "child=")
	child, _ := strconv.Atoi(strings.Fields(log[strings.Index(log, "child=")+6:])[0])
	t.Cleanup(func() { reapOrphan(t, child) })
	return child
}

// The SIGKILL at StopTimeout reaches the whole group with KillGroup.
func TestKillGroupEscalation(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "deaf", "")
	spec.StartSecs, spec.StopTimeout = -1, 100*time.Millisecond
	spec.Func, spec.Command = "", []string{"sh", "-c", `trap "" TERM; sleep 300 & echo child=$!; wait`}
	d := newDaemon(t, spec)
	child := childOf(t, d)
	waitState(t, d, Running)
	d.Stop()
	evs := waitState(t, d, Stopped)
	if pidAlive(child) || !slices.ContainsFunc(evs, func(e Event) bool { return e.Reason == ReasonStopTimeout }) {
		t.Fatalf("child alive %v; events %v", pidAlive(child), evs)
	}
}

// KillProcess stops the main process only; a child that keeps the lock
// keeps the daemon a Zombie until it is stopped too.
func TestKillProcessLeavesChild(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "solo", "")
	spec.StartSecs, spec.KillMode = -1, KillProcess
	spec.Func, spec.Command = "", []string{"sh", "-c", `sleep 300 & echo child=$!; wait`}
	d := newDaemon(t, spec)
	child := childOf(t, d)
	waitState(t, d, Running)
	d.Stop()
	waitState(t, d, Zombie)
	if !pidAlive(child) {
		t.Fatal("KillProcess killed the child")
	}
	d.ForceStop()
	waitState(t, d, Stopped)
	if pidAlive(child) {
		t.Fatal("ForceStop of the zombie left its child")
	}
}

// Dir, Env and Umask reach the daemon.
func TestSpecDirEnvUmask(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "env", "")
	spec.Dir = t.TempDir()
	spec.Env = []string{"LAUNCHER_TEST_A=1", "LAUNCHER_TEST_A=2"} // the last one wins
	spec.Umask = 0o027
	spec.Func, spec.Command = "", []string{"sh", "-c", `echo "dir=$(pwd) a=$LAUNCHER_TEST_A umask=$(umask)"; exec sleep 300`}
	d := newDaemon(t, spec)
	d.ReadLog()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	log := waitLog(t, d, "umask=")
	if want := "dir=" + spec.Dir + " a=2 umask=0027"; !strings.Contains(log, want) {
		t.Fatalf("log %q, want %q", log, want)
	}
}

// Where no supervisor keeps the shared record, the controller that started
// a daemon records how it ended, so that another controller's Status shows
// it.
func TestStarterRecordsExit(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "once", "fail")
	d := newDaemon(t, spec)
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, Stopped)
	other := newDaemon(t, spec)
	st := other.Status()
	// start-failed, or crashed when the helper took longer than StartSecs
	// to get to its exit (under the race detector).
	if st.LastExit == nil || st.LastExit.Code != 3 || st.Reason != ReasonStartFailed && st.Reason != ReasonCrashed {
		t.Fatalf("another controller sees %+v, want the exit status 3, start-failed or crashed", st)
	}
}

// The default dirs are the documented ones, and a Spec without dirs gets
// them.
func TestDefaultDirs(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	wantPID, wantLog := "/state/launcher/run", "/state/launcher/log"
	if os.Geteuid() == 0 {
		wantPID, wantLog = "/run/launcher", "/var/log/launcher"
	}
	if got := DefaultPIDDir(); got != wantPID {
		t.Errorf("DefaultPIDDir() = %q, want %q", got, wantPID)
	}
	if got := DefaultLogDir(); got != wantLog {
		t.Errorf("DefaultLogDir() = %q, want %q", got, wantLog)
	}
	if s := (Spec{Name: "x"}).withDefaults(); s.PIDDir != wantPID || s.LogDir != wantLog {
		t.Errorf("a Spec without dirs gets %q and %q", s.PIDDir, s.LogDir)
	}
}
