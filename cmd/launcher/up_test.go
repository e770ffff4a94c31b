//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/proclauncher/launcher"
	"golang.org/x/sys/unix"
)

// These tests run `launcher up` as its own process: the test binary, which
// testscript.Main put in $PATH as "launcher".

// startUp starts `launcher ARGS...` (through prefix, a command that runs
// it, if any) with env added, its output in a file; it returns the command
// and the file. Cleanup kills it by pid if it still runs, and force-stops
// the daemons of cfg.
func startUp(t *testing.T, cfg string, env []string, prefix []string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	out := filepath.Join(filepath.Dir(cfg), "up.out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	argv := append(append(append([]string{}, prefix...), "launcher", "-c", cfg), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		var b bytes.Buffer
		run([]string{"-c", cfg, "force-stop", "--wait", "--timeout", "10s"}, &b, &b)
	})
	return cmd, out
}

// waitFile waits until file has a match of re, and returns the file.
func waitFile(t *testing.T, file, re string) string {
	t.Helper()
	rx := regexp.MustCompile("(?m)" + re)
	deadline := time.Now().Add(20 * time.Second)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		b, _ := os.ReadFile(file)
		if rx.Match(b) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %q after 20s; it holds:\n%s", file, re, b)
		}
		time.Sleep(delay) // a poll interval: the file decides
	}
}

// waitExit waits for cmd to end and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		t.Fatalf("%v still runs after 30s", cmd.Args)
	}
	return -1
}

// orphaner leaves three orphans (a subshell starts a sleep and exits),
// which end a moment later: zombies until their reaper reaps them.
const orphanerTOML = `pid_dir = "run"
log_dir = "log"

[daemon.orphaner]
command = ["sh", "-c", "for i in 1 2 3; do (sleep 0.1 &) ; done; exec sleep 600"]
start_secs = "50ms"
`

// up --init, not PID 1: a child subreaper, it reaps the orphans of its
// daemons (reparented to it, not to the system's init), and SIGTERM ends
// it with exit status 0 once its daemon is stopped.
func TestUpInitReapsOrphans(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "launcher.toml")
	os.WriteFile(cfg, []byte(orphanerTOML), 0o644)
	cmd, out := startUp(t, cfg, nil, nil, "up", "--init", "-v")
	waitFile(t, out, `orphaner starting → running`)
	waitFile(t, out, `(?s)(launcher: reaped orphan pid \d+\n.*){3}`)
	if z := zombieChildren(cmd.Process.Pid); len(z) > 0 {
		t.Errorf("zombie children of up: %v", z)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd); code != 0 {
		b, _ := os.ReadFile(out)
		t.Fatalf("exit status %d, want 0:\n%s", code, b)
	}
	waitFile(t, out, `orphaner stopping → zombie \(requested, pid \d+, signal: terminated\)`)
}

// As PID 1 of a pid namespace (a container's init), up reaps every orphan
// without being told (--init is implied), and SIGTERM stops its daemons
// and ends it with exit status 0. Root and util-linux unshare only.
func TestUpAsPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it makes a pid namespace (unshare --pid)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("needs util-linux unshare")
	}
	prefix := []string{unshare, "--pid", "--fork", "--mount-proc", "--kill-child"}
	if b, err := exec.Command(unshare, "--pid", "--fork", "--mount-proc", "--kill-child", "true").CombinedOutput(); err != nil {
		t.Skipf("no pid namespace here: unshare: %v %s", err, b)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "launcher.toml")
	os.WriteFile(cfg, []byte(orphanerTOML), 0o644)
	cmd, out := startUp(t, cfg, nil, prefix, "up", "-v")
	waitFile(t, out, `orphaner starting → running`)
	waitFile(t, out, `(?s)(launcher: reaped orphan pid \d+\n.*){3}`)
	init := onlyChild(t, cmd.Process.Pid) // launcher, forked by unshare
	if ns := nsPIDs(init); len(ns) < 2 || ns[len(ns)-1] != 1 {
		t.Fatalf("launcher (pid %d here) has pids %v: not PID 1 of a namespace", init, ns)
	}
	if z := zombiesInPIDNamespaceOf(init); len(z) > 0 {
		t.Errorf("zombies in the namespace: %v", z)
	}
	syscall.Kill(init, syscall.SIGTERM)
	if code := waitExit(t, cmd); code != 0 {
		b, _ := os.ReadFile(out)
		t.Fatalf("exit status %d, want 0:\n%s", code, b)
	}
	waitFile(t, out, `orphaner stopping → zombie \(requested, pid \d+, signal: terminated\)`)
}

// onlyChild returns the one child of pid, waiting for it to show.
func onlyChild(t *testing.T, pid int) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		kids := children(pid)
		if len(kids) == 1 {
			return kids[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d has children %v, want one", pid, kids)
		}
		time.Sleep(time.Millisecond) // a poll interval: /proc decides
	}
}

// children lists the children of pid (all its threads').
func children(pid int) []int {
	var out []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// nsPIDs returns pid's NSpid line: its pid in each namespace, outermost
// first.
func nsPIDs(pid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			var out []int
			for _, s := range strings.Fields(rest) {
				n, _ := strconv.Atoi(s)
				out = append(out, n)
			}
			return out
		}
	}
	return nil
}

// procState returns the state letter of pid (R, S, Z...).
func procState(pid int) byte {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(b, ')')
	if err != nil || i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// zombieChildren lists the children of pid that are zombies.
func zombieChildren(pid int) []int {
	var z []int
	for _, c := range children(pid) {
		if procState(c) == 'Z' {
			z = append(z, c)
		}
	}
	return z
}

// zombiesInPIDNamespaceOf lists the zombies in pid's pid namespace.
func zombiesInPIDNamespaceOf(pid int) []int {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	if err != nil {
		return nil
	}
	var z []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if other, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", p)); other == ns && procState(p) == 'Z' {
			z = append(z, p)
		}
	}
	return z
}

// notifications collects what `launcher up` sends to NOTIFY_SOCKET: a
// unixgram socket, one datagram a message, one line a field.
type notifications struct {
	t    *testing.T
	msgs chan string
	seen []string // every line so far, in order
}

func listenNotify(t *testing.T, path string) *notifications {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifications{t: t, msgs: make(chan string, 1000)}
	go func() {
		defer close(n.msgs)
		buf := make([]byte, 4096)
		for {
			k, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return n
}

// next waits for a message with a line matching re and returns that
// message's lines; the lines that came before it are in n.seen.
func (n *notifications) next(re string) []string {
	n.t.Helper()
	rx := regexp.MustCompile("^" + re + "$")
	timeout := time.After(20 * time.Second)
	for {
		select {
		case msg, ok := <-n.msgs:
			if !ok {
				n.t.Fatalf("socket closed while waiting for %s; seen %q", re, n.seen)
			}
			lines := strings.Split(strings.TrimSuffix(msg, "\n"), "\n")
			n.seen = append(n.seen, lines...)
			for _, l := range lines {
				if rx.MatchString(l) {
					return lines
				}
			}
		case <-timeout:
			n.t.Fatalf("no %s in 20s; seen %q", re, n.seen)
		}
	}
}

// lastStatus is the last STATUS= seen.
func (n *notifications) lastStatus() string {
	for i := len(n.seen) - 1; i >= 0; i-- {
		if s, ok := strings.CutPrefix(n.seen[i], "STATUS="); ok {
			return s
		}
	}
	return ""
}

// Under systemd (Type=notify): READY=1 once the daemons run, STATUS= as
// they change, WATCHDOG=1 every WATCHDOG_USEC/2, RELOADING=1 then READY=1
// on SIGHUP, STOPPING=1 on SIGTERM; the daemons do not inherit the
// protocol's variables. The socket is the test's.
func TestUpSystemdNotify(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	n := listenNotify(t, sock)
	cfg := filepath.Join(dir, "launcher.toml")
	conf := `pid_dir = "run"
log_dir = "log"

[daemon.a]
command = ["sleep", "600"]
start_secs = "300ms"

[daemon.b]
command = ["sh", "-c", "env; exec sleep 600"]
start_secs = "50ms"
after = ["a"]
`
	os.WriteFile(cfg, []byte(conf), 0o644)
	cmd, out := startUp(t, cfg, []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=200000"}, nil, "up")

	n.next("READY=1")
	for _, row := range statusOf(cfg) {
		if row["state"] != "running" {
			t.Errorf("READY=1 came with %s %v", row["name"], row["state"])
		}
	}
	if got := n.lastStatus(); got != "2 running" {
		t.Errorf("STATUS=%s at READY=1, want 2 running", got)
	}
	if !slicesContainsMatch(n.seen, `STATUS=.*starting.*`) {
		t.Errorf("no STATUS= while starting before READY=1: %q", n.seen)
	}
	// Watchdog: twice more (every 100ms).
	n.next("WATCHDOG=1")
	n.next("WATCHDOG=1")
	env := waitFile(t, filepath.Join(dir, "log", "b.log"), `^PATH=`)
	for _, v := range []string{"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="} {
		if strings.Contains(env, "\n"+v) {
			t.Errorf("a daemon inherited %s", v)
		}
	}

	// Reload: RELOADING=1 (with MONOTONIC_USEC), then READY=1 once the
	// added daemon runs.
	os.WriteFile(cfg, []byte(conf+"\n[daemon.c]\ncommand = [\"sleep\", \"600\"]\nstart_secs = \"300ms\"\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	msg := n.next("RELOADING=1")
	if !slicesContainsMatch(msg, `MONOTONIC_USEC=[0-9]+`) {
		t.Errorf("RELOADING=1 without MONOTONIC_USEC: %q", msg)
	}
	n.next("READY=1")
	for _, row := range statusOf(cfg) {
		if row["state"] != "running" {
			t.Errorf("READY=1 after the reload came with %s %v", row["name"], row["state"])
		}
	}
	if got := n.lastStatus(); got != "3 running" {
		t.Errorf("STATUS=%s at READY=1, want 3 running", got)
	}

	cmd.Process.Signal(syscall.SIGTERM)
	n.next("STOPPING=1")
	if code := waitExit(t, cmd); code != 0 {
		b, _ := os.ReadFile(out)
		t.Fatalf("exit status %d, want 0:\n%s", code, b)
	}
}

func slicesContainsMatch(lines []string, re string) bool {
	rx := regexp.MustCompile("^" + re + "$")
	for _, l := range lines {
		if rx.MatchString(l) {
			return true
		}
	}
	return false
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
	}{
		{"", "", 0},
		{"200000", "", 100 * time.Millisecond},
		{"200000", "42", 100 * time.Millisecond},
		{"200000", "43", 0}, // the watchdog is another process's
		{"0", "", 0},
		{"junk", "", 0},
		{"-5", "", 0},
	} {
		env := map[string]string{"WATCHDOG_USEC": tc.usec, "WATCHDOG_PID": tc.pid}
		if got := watchdogInterval(env, 42); got != tc.want {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: %v, want %v", tc.usec, tc.pid, got, tc.want)
		}
	}
}

// examples/launcher.service is a Type=notify unit whose ExecStart= and
// ExecReload= are command lines this launcher takes, and which lets up
// stop its daemons itself.
func TestServiceUnit(t *testing.T) {
	b, err := os.ReadFile("../../examples/launcher.service")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			set[k] = v
		}
	}
	for k, want := range map[string]string{"Type": "notify", "KillMode": "mixed", "Delegate": "yes", "Restart": "on-failure"} {
		if set[k] != want {
			t.Errorf("%s=%s, want %s", k, set[k], want)
		}
	}
	for _, k := range []string{"ExecStart", "ExecReload"} {
		args := strings.Fields(set[k])
		if len(args) < 2 || filepath.Base(args[0]) != "launcher" {
			t.Errorf("%s=%s: not launcher", k, set[k])
			continue
		}
		// --help: the command line parses, and nothing is run.
		var out, errOut bytes.Buffer
		if err := run(append(args[1:], "--help"), &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "usage: launcher "+args[len(args)-1]) {
			t.Errorf("%s=%s: %v %s%s", k, set[k], err, out.String(), errOut.String())
		}
	}
}

// How a daemon's end counts for up's exit status.
func TestEndProblem(t *testing.T) {
	term := &launcher.ExitStatus{Signal: syscall.SIGTERM}
	kill := &launcher.ExitStatus{Signal: syscall.SIGKILL}
	for _, tc := range []struct {
		ev   launcher.Event
		want bool // a problem
	}{
		{launcher.Event{From: launcher.Running, To: launcher.Zombie, Reason: launcher.ReasonExited, Exit: &launcher.ExitStatus{}}, false},
		{launcher.Event{From: launcher.Stopping, To: launcher.Zombie, Reason: launcher.ReasonRequested, Exit: term}, false},
		{launcher.Event{From: launcher.Running, To: launcher.Zombie, Reason: launcher.ReasonCrashed, Exit: term}, true},
		{launcher.Event{From: launcher.Running, To: launcher.Zombie, Reason: launcher.ReasonCrashed, Exit: &launcher.ExitStatus{Code: 2}}, true},
		// Seen by a standby: its supervisor stopped (or force-stopped) it.
		{launcher.Event{From: launcher.Running, To: launcher.Zombie, Reason: launcher.ReasonRequestedElsewhere, Exit: term}, false},
		{launcher.Event{From: launcher.Running, To: launcher.Zombie, Reason: launcher.ReasonRequestedElsewhere, Exit: kill}, false},
		{launcher.Event{From: launcher.Running, To: launcher.Stopped, Reason: launcher.ReasonRequestedElsewhere}, false},
		{launcher.Event{From: launcher.Running, To: launcher.Zombie, Reason: launcher.ReasonRequestedElsewhere, Exit: &launcher.ExitStatus{Code: 1}}, true},
	} {
		if got := endProblem(tc.ev, syscall.SIGTERM); (got != "") != tc.want {
			t.Errorf("endProblem(%v) = %q, want a problem: %v", tc.ev, got, tc.want)
		}
	}
}

// TestShutdownPrintsEveryEnd: up's shutdown waits until it has printed every
// daemon's last event, not only until all are stopped: with more events
// than Events holds (a thousand daemons stopping; here a Manager that
// holds 4), the rest wait in the Manager for later Polls, and up exited
// without printing them (or judging those ends for its exit status).
func TestShutdownPrintsEveryEnd(t *testing.T) {
	dir := t.TempDir()
	m := launcher.NewManager(launcher.Options{PIDDir: dir + "/run", LogDir: dir + "/log", EventBuffer: 4})
	const n = 12
	for i := range n {
		if err := m.Add(launcher.Spec{Name: fmt.Sprintf("d%02d", i), Command: []string{"sleep", "600"}, StartSecs: -1}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		m.ForceStop()
		deadline := time.Now().Add(20 * time.Second)
		for _, d := range m.Daemons() {
			for d.State() != launcher.Stopped && time.Now().Before(deadline) {
				select {
				case <-m.Wake():
					m.Poll(time.Now())
				case <-m.Events():
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
		m.Close()
	})
	var out, errs bytes.Buffer
	u := &upRun{c: &cli{stdout: &out, stderr: &errs, opts: &options{}}, m: m, ends: map[string]string{},
		sigs: make(chan os.Signal, 1)}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for running := 0; running < n; {
		running = 0
		for _, d := range m.Daemons() {
			if d.State() == launcher.Running {
				running++
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d running", running, n)
		}
		select {
		case <-m.Wake():
			m.Poll(time.Now())
		case ev := <-m.Events():
			u.event(ev)
		}
	}
	if err := u.shutdown(nil); err != nil {
		t.Fatalf("shutdown: %v; stderr %s", err, errs.String())
	}
	for i := range n {
		if !regexp.MustCompile(fmt.Sprintf(`(?m)d%02d (stopping|zombie) → stopped`, i)).MatchString(out.String()) {
			t.Errorf("no stop of d%02d printed; output:\n%s", i, out.String())
		}
	}
}

// crashLoopTOML is a daemon that exits at once and is restarted at once,
// for ever: three event lines a restart.
const crashLoopTOML = `pid_dir = "run"
log_dir = "log"

[daemon.crasher]
command = ["sh", "-c", "exit 1"]
start_secs = "1ms"
restart = "always"
restart_delay = "1ms"
max_restart_delay = "1ms"
max_restarts = 1000
restart_window = "1h"
`

// restartsOf reads a daemon's restarts count from `launcher status --json`.
func restartsOf(t *testing.T, cfg, name string) int {
	var b bytes.Buffer
	run([]string{"-c", cfg, "status", "--json", name}, &b, &b)
	var rows []launcher.Status
	if err := json.Unmarshal(b.Bytes(), &rows); err != nil || len(rows) != 1 {
		return -1
	}
	return rows[0].Restarts
}

// up's output never holds up its supervision: with its stdout and stderr
// a pipe nobody reads (4 KiB of room, some 25 restarts' events) it goes on
// restarting a crashing daemon, and with a pipe nobody will read again
// (closed: SIGPIPE, which killed it) too; SIGTERM still ends it.
func TestUpOutputNeverHoldsItUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		closed bool
	}{{"unread", false}, {"closed", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "launcher.toml")
			if err := os.WriteFile(cfg, []byte(crashLoopTOML), 0o644); err != nil {
				t.Fatal(err)
			}
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096); err != nil {
				t.Fatal(err)
			}
			if tc.closed {
				r.Close()
			} else {
				defer r.Close()
			}
			cmd := exec.Command("launcher", "-c", cfg, "up")
			cmd.Stdout, cmd.Stderr = w, w
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			waited := make(chan struct{}) // closed once its Wait returned
			go func() {
				err := cmd.Wait()
				close(waited)
				exited <- err
			}()
			t.Cleanup(func() {
				cmd.Process.Kill() // through its pidfd: nothing once it is reaped
				<-waited
				var b bytes.Buffer
				run([]string{"-c", cfg, "force-stop", "--wait", "--timeout", "10s"}, &b, &b)
			})
			deadline := time.After(30 * time.Second)
			for n := 0; n < 100; n = restartsOf(t, cfg, "crasher") {
				select {
				case err := <-exited:
					t.Fatalf("up ended (%v) after %d restarts", err, n)
				case <-deadline:
					t.Fatalf("%d restarts after 30s: up is held up by its output", n)
				case <-time.After(10 * time.Millisecond): // a poll interval: status decides
				}
			}
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				t.Fatal("up still runs 20s after SIGTERM")
			}
		})
	}
}
