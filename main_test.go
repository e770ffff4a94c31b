//go:build linux

package launcher

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// Helper daemons: the test binary re-execs itself to run them (launcher.Main
// in TestMain), the way os/exec's tests impersonate helper programs. Each has
// a lifetime cap so that nothing outlives a broken test for long.
const helperLifetime = 2 * time.Minute

// long runs the full counts of the long checks (the 200-kill recovery
// loops, 10 000 daemons): go test -long.
var long = flag.Bool("long", false, "run the long checks in full")

var helpers = map[string]Func{
	// sleep: runs until its context is cancelled (the stop signal).
	"sleep": func(ctx context.Context, data []byte) error {
		select {
		case <-ctx.Done():
		case <-time.After(helperLifetime):
		}
		return nil
	},
	// echo: writes its data to stdout (the log), then sleeps.
	"echo": func(ctx context.Context, data []byte) error {
		fmt.Printf("data=%q\n", data)
		select {
		case <-ctx.Done():
		case <-time.After(helperLifetime):
		}
		return nil
	},
	// fail: exits at once with status 3.
	"fail": func(ctx context.Context, data []byte) error {
		os.Exit(3)
		return nil
	},
	// stubborn: ignores the stop signal: only SIGKILL ends it.
	"stubborn": func(ctx context.Context, data []byte) error {
		fmt.Println("ready")
		<-ctx.Done()
		fmt.Println("ignoring stop")
		time.Sleep(helperLifetime)
		return nil
	},
	// notify: an sd_notify daemon, as systemd would run it: it sends
	// STATUS, then READY=1 once the file named by its data exists (at
	// once without data), then WATCHDOG=1 every 20ms while <data>.beat
	// exists.
	"notify": func(ctx context.Context, data []byte) error {
		conn, err := net.Dial("unixgram", os.Getenv("NOTIFY_SOCKET"))
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.Write([]byte("STATUS=warming up"))
		flag := string(data)
		exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		ready := false
		for {
			if !ready && (flag == "" || exists(flag)) {
				conn.Write([]byte("READY=1\nSTATUS=serving"))
				ready = true
			}
			if ready && flag != "" && exists(flag+".beat") {
				conn.Write([]byte("WATCHDOG=1"))
			}
			if ready && flag != "" && exists(flag+".stopping") {
				conn.Write([]byte("STOPPING=1\nSTATUS=shutting down"))
			}
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			case <-time.After(helperLifetime):
				return nil
			}
		}
	},
	// notifyfd: s6-style readiness: writes a line to fd 4 after a moment.
	"notifyfd": func(ctx context.Context, data []byte) error {
		f := os.NewFile(4, "notify")
		fmt.Fprintln(f, "ready")
		f.Close()
		<-ctx.Done()
		return nil
	},
	// lines: echoes each line of its stdin ("got: ..."), a stream it reads
	// itself (InputFIFO), until it is stopped.
	"lines": func(ctx context.Context, data []byte) error {
		fmt.Printf("lines: data=%q\n", data)
		go func() {
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				fmt.Println("got:", sc.Text())
			}
		}()
		<-ctx.Done()
		return nil
	},
	// flood: writes 1 KiB lines at the rate in its data (bytes per second)
	// for a second and a half, then waits to be stopped.
	"flood": func(ctx context.Context, data []byte) error {
		rate, _ := strconv.Atoi(string(data))
		line := strings.Repeat("x", 1023) + "\n"
		start := time.Now()
		written := 0
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for time.Since(start) < 1500*time.Millisecond {
			// Steady: at most two milliseconds' worth per tick, however
			// late the tick (a writer at that rate, not a burst).
			want := min(int(time.Since(start).Seconds()*float64(rate)), written+2*rate/1000)
			for ; written < want; written += len(line) {
				os.Stdout.WriteString(line)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
		}
		fmt.Println("flood: done", written)
		<-ctx.Done()
		return nil
	},
	// deaf: ignores SIGTERM altogether: only a SIGKILL ends it.
	"deaf": func(ctx context.Context, data []byte) error {
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("deaf")
		time.Sleep(helperLifetime)
		return nil
	},
	// sigign: prints its SigIgn mask.
	"sigign": func(ctx context.Context, data []byte) error {
		b, _ := os.ReadFile("/proc/self/status")
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "SigIgn:") {
				fmt.Println(l)
			}
		}
		<-ctx.Done()
		return nil
	},
}

func TestMain(m *testing.M) {
	for name, fn := range helpers {
		Register(name, usedHelper(name, fn))
	}
	Main()
	if mode := os.Getenv("LAUNCHER_TEST_CONTROLLER"); mode != "" {
		os.Exit(runController(mode))
	}
	// Orphaned daemons (whose controller a test killed) are reparented to
	// us, not to a pid 1 that may never reap them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "subreaper:", err)
	}
	// Start the runtime's poller (epoll and eventfd fds) before counting.
	if r, w, err := os.Pipe(); err == nil {
		r.Close()
		w.Close()
	}
	fds := countFDs()
	used, err := os.MkdirTemp("", "launcher-helpers-")
	if err == nil {
		os.Setenv(envHelpersUsed, used)
	}
	code := m.Run()
	if code == 0 {
		// This process stands in for init (a subreaper): orphans that
		// exited after their test reaped what it knew of (a daemon's
		// grandchild, reparented late) are reaped here, as init would.
		// Live ones are still leaks.
		ReapOrphans()
		if err := checkNoLeftovers(fds); err != nil {
			fmt.Fprintln(os.Stderr, "leak check:", err)
			code = 1
		}
	}
	// Every helper is used by some test, as os/exec's tests check theirs
	// (a run of part of the suite, with -run, is not held to it).
	if code == 0 && used != "" && flag.Lookup("test.run").Value.String() == "" {
		for name := range helpers {
			if _, err := os.Stat(filepath.Join(used, name)); err != nil {
				fmt.Fprintf(os.Stderr, "helper %q is used by no test\n", name)
				code = 1
			}
		}
	}
	os.RemoveAll(used)
	os.Exit(code)
}

// envHelpersUsed names the dir where each helper, run as a daemon, leaves
// a file of its name.
const envHelpersUsed = "LAUNCHER_TEST_HELPERS_USED"

// usedHelper wraps a helper so that running it is recorded.
func usedHelper(name string, fn Func) Func {
	return func(ctx context.Context, data []byte) error {
		if dir := os.Getenv(envHelpersUsed); dir != "" {
			os.WriteFile(filepath.Join(dir, name), nil, 0o644)
		}
		return fn(ctx, data)
	}
}

// checkNoLeftovers fails the suite if a test left a child process, a
// goroutine or an fd behind.
func checkNoLeftovers(fdsBefore int) error {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	if err == nil {
		if pid := siginfoChild(&info).pid; pid != 0 {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
			var marks []string
			for _, kv := range strings.Split(string(env), "\x00") {
				if strings.HasPrefix(kv, "LAUNCHER_") || strings.HasPrefix(kv, "LT_") {
					marks = append(marks, kv)
				}
			}
			return fmt.Errorf("child process %d left behind: %q %v", pid, cmd, marks)
		}
		return errors.New("live child processes left behind")
	}
	if !errors.Is(err, unix.ECHILD) {
		return err
	}
	if err := goleak.Find(); err != nil {
		return err
	}
	if n := countFDs(); n > fdsBefore {
		ents, _ := os.ReadDir("/proc/self/fd")
		var links []string
		for _, e := range ents {
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			links = append(links, e.Name()+"->"+l)
		}
		return fmt.Errorf("%d fds open after the tests, %d before: %v", n, fdsBefore, links)
	}
	return nil
}

func countFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents) - 1 // the one ReadDir itself used
}

// testSpec returns a spec with pid and log dirs (made, as a first Start
// would) under t.TempDir() and a short StartSecs.
func testSpec(t *testing.T, name, fn string) Spec {
	t.Helper()
	dir := t.TempDir()
	for _, sub := range []string{"/run", "/log"} {
		if err := os.Mkdir(dir+sub, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return Spec{Name: name, Func: fn, PIDDir: dir + "/run", LogDir: dir + "/log",
		StartSecs: 50 * time.Millisecond, StopTimeout: 5 * time.Second}
}

// killAtCleanup kills pid, a process the test started, at the test's end,
// through a pidfd taken now, while it is ours and alive: by then something
// may have reaped it and its pid may be another process's. The same pidfd
// reaps it where this process is its parent and nobody else did (its
// controller was closed), so no zombie is left, and never another child.
func killAtCleanup(t *testing.T, pid int) {
	t.Helper()
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open(%d): %v", pid, err)
	}
	t.Cleanup(func() {
		unix.PidfdSendSignal(pidfd, syscall.SIGKILL, nil, 0)
		var info unix.Siginfo
		unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED, nil)
		unix.Close(pidfd)
	})
}

// newDaemon makes a Daemon and registers a cleanup that kills whatever
// process it started, by pid (through its pidfd), and reaps it.
func newDaemon(t *testing.T, spec Spec) *Daemon {
	t.Helper()
	d, err := New(spec)
	if err != nil {
		t.Fatalf("New(%s): %v", spec.Name, err)
	}
	t.Cleanup(func() { cleanupDaemon(t, d) })
	return d
}

func cleanupDaemon(t *testing.T, d *Daemon) {
	if d.State() != Stopped {
		d.ForceStop()
		waitState(t, d, Stopped)
	}
	d.Close()
}

// waitFor polls cond until it holds or the deadline passes, calling d.Poll
// in between when d is given; it fails with what describe says.
func waitFor(t *testing.T, what string, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	if dl, ok := t.Deadline(); ok && dl.Before(deadline) {
		deadline = dl.Add(-time.Second)
	}
	for delay := 100 * time.Microsecond; ; delay = min(delay*2, 20*time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; saw %s", what, describe())
		}
		time.Sleep(delay) // a poll interval, not synchronisation: cond decides
	}
}

// waitState polls d until it is in state want, and returns the events seen.
func waitState(t *testing.T, d *Daemon, want State) []Event {
	t.Helper()
	var evs []Event
	waitFor(t, d.Name()+" "+want.String(), func() bool {
		evs = append(evs, d.Poll(time.Now())...)
		return d.State() == want
	}, func() string { return fmt.Sprintf("state %v, events %v", d.State(), evs) })
	return evs
}

// pidAlive reports whether pid exists and has not exited.
func pidAlive(pid int) bool {
	st, err := readProcStat(pid)
	return err == nil && st.state != 'Z' && st.state != 'X'
}

// reapOrphan kills and reaps pid if it is a leftover of a daemon that was
// reparented to this test process (the subreaper). pid must be one that the
// test's own daemon started; anything else is left alone.
func reapOrphan(t *testing.T, pid int) {
	t.Helper()
	if pid <= 1 {
		t.Fatalf("reapOrphan(%d)", pid)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // gone and reaped already
	}
	defer unix.Close(fd)
	var info unix.Siginfo
	// Only our own (reparented) child is waited for; ECHILD means it is not.
	if err := unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
		return
	}
	unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	unix.Waitid(unix.P_PIDFD, fd, &info, unix.WEXITED, nil)
}

// waitLog polls d's log (through ReadLog, so call it once first to set
// the offset) until it has shown substr.
func waitLog(t *testing.T, d *Daemon, substr string) string {
	t.Helper()
	var seen strings.Builder
	waitFor(t, d.Name()+" log line "+strconv.Quote(substr), func() bool {
		b, err := d.ReadLog()
		if err != nil {
			t.Fatal(err)
		}
		seen.Write(b)
		return strings.Contains(seen.String(), substr)
	}, func() string { return strconv.Quote(seen.String()) })
	return seen.String()
}

// daemonOf returns m's daemon of that name (nil if none: the test then
// fails where it uses it).
func daemonOf(m *Manager, name string) *Daemon {
	d, _ := m.Daemon(name)
	return d
}
