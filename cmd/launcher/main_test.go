//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proclauncher/launcher"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	launcher.Main() // the re-exec shim runs in this binary too
	// Daemons whose `launcher` process exits are reparented to this
	// process, whose cleanup reaps them (by pid), rather than to a pid 1
	// that may never do so.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	testscript.Main(m, map[string]func(){
		"launcher": func() { os.Exit(exitCode(run(os.Args[1:], os.Stdout, os.Stderr), os.Stderr)) },
		// notify-after D: an sd_notify daemon that sends READY=1 after D,
		// then sleeps for ten minutes.
		"notify-after": func() {
			d, err := time.ParseDuration(os.Args[1])
			if err != nil {
				os.Exit(2)
			}
			time.Sleep(d) // the daemon's warm-up, what the test is about
			conn, err := net.Dial("unixgram", os.Getenv("NOTIFY_SOCKET"))
			if err != nil {
				fmt.Println("notify-after:", err)
				os.Exit(1)
			}
			conn.Write([]byte("READY=1"))
			fmt.Println("notify-after: READY=1 sent")
			time.Sleep(10 * time.Minute)
		},
	})
}

// TestScripts runs testdata/*.txtar. Each script works in $WORK with the
// config $WORK/launcher.toml; whatever it leaves running is killed and
// reaped at its end.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Condition: func(cond string) (bool, error) {
			if cond != "cgroup" {
				return false, fmt.Errorf("unknown condition %q", cond)
			}
			mi, _ := os.ReadFile("/proc/self/mountinfo")
			return os.Geteuid() == 0 && bytes.Contains(mi, []byte(" - cgroup2 ")), nil
		},
		Setup: func(env *testscript.Env) error {
			cfg := filepath.Join(env.WorkDir, "launcher.toml")
			env.Setenv("NO_COLOR", "1")
			// Every `launcher` of a script is this test binary; built with
			// -race, each would sleep a second on its way out (the race
			// runtime's default atexit_sleep_ms) and a script waits for
			// dozens. Options given to the test come after, and win.
			env.Setenv("GORACE", strings.TrimSpace("atexit_sleep_ms=10 "+os.Getenv("GORACE")))
			env.Defer(func() { killScriptProcs(env.WorkDir); cleanup(env.T(), cfg) })
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitfor":   cmdWaitFor,
			"jsonfield": cmdJSONField,
			"signal":    cmdSignal,
			"waitgrep":  cmdWaitGrep,
		},
	})
}

// killScriptProcs kills, by pid, the background `launcher` processes a
// script started and recorded in $WORK/*.pid: testscript ends only the sh
// that wraps them, so a hung `up` would outlive the test.
func killScriptProcs(work string) {
	files, _ := filepath.Glob(filepath.Join(work, "*.pid"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		pid, err := strconv.Atoi(string(bytes.TrimSpace(b)))
		if err != nil || pid <= 1 {
			continue
		}
		if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); bytes.HasPrefix(cmd, []byte("launcher\x00")) {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
}

// cleanup kills every daemon of the config and reaps those that became
// children of this process.
func cleanup(t testscript.T, cfg string) {
	if _, err := os.Stat(cfg); err != nil {
		return
	}
	var pids []int
	for _, st := range statusOf(cfg) {
		if pid, ok := st["pid"].(float64); ok && pid > 1 {
			pids = append(pids, int(pid))
		}
	}
	var out bytes.Buffer
	run([]string{"-c", cfg, "force-stop", "--wait", "--timeout", "10s"}, &out, &out)
	for _, pid := range pids {
		var info unix.Siginfo
		unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG, nil) // ECHILD if not ours
	}
}

// statusOf runs `status --json` in this process.
func statusOf(cfg string) []map[string]any {
	var out, errOut bytes.Buffer
	run([]string{"-c", cfg, "status", "--json"}, &out, &errOut)
	var rows []map[string]any
	json.Unmarshal(out.Bytes(), &rows)
	return rows
}

// waitfor NAME FIELD VALUE [TIMEOUT]: poll `status --json` until the
// daemon's FIELD is VALUE (as %v), or fail with what was seen.
func cmdWaitFor(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 3 {
		ts.Fatalf("usage: waitfor name field value [timeout]")
	}
	timeout := 20 * time.Second
	if len(args) > 3 {
		d, err := time.ParseDuration(args[3])
		ts.Check(err)
		timeout = d
	}
	cfg := ts.MkAbs("launcher.toml")
	deadline := time.Now().Add(timeout)
	var seen any
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		for _, row := range statusOf(cfg) {
			if row["name"] == args[0] {
				seen = row[args[1]]
				if fmt.Sprint(seen) == args[2] {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitfor %s %s = %s: still %v after %v", args[0], args[1], args[2], seen, timeout)
		}
		time.Sleep(delay) // a poll interval: the status decides
	}
}

// waitgrep FILE REGEXP [TIMEOUT]: wait until FILE (the output of a
// background command) has a line matching REGEXP.
func cmdWaitGrep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: waitgrep file regexp [timeout]")
	}
	timeout := 20 * time.Second
	if len(args) > 2 {
		d, err := time.ParseDuration(args[2])
		ts.Check(err)
		timeout = d
	}
	re, err := regexp.Compile("(?m)" + args[1])
	ts.Check(err)
	deadline := time.Now().Add(timeout)
	var seen []byte
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		seen, _ = os.ReadFile(ts.MkAbs(args[0]))
		if re.Match(seen) {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("waitgrep %s %q: not there after %v; it holds:\n%s", args[0], args[1], timeout, seen)
		}
		time.Sleep(delay) // a poll interval: the file decides
	}
}

// jsonfield NAME FIELD VALUE: in the last stdout (status --json), the
// daemon's FIELD is VALUE.
func cmdJSONField(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: jsonfield name field value")
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &rows); err != nil {
		ts.Fatalf("stdout is not status JSON: %v", err)
	}
	for _, row := range rows {
		if row["name"] == args[0] {
			got := fmt.Sprint(row[args[1]])
			if (got == args[2]) == neg {
				ts.Fatalf("%s.%s = %s", args[0], args[1], got)
			}
			return
		}
	}
	ts.Fatalf("no daemon %s in the JSON", args[0])
}

// signal SIG PIDFILE: send SIG (TERM, INT, ...) to the process whose pid
// the script wrote to PIDFILE (a process the script started).
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: signal SIG pidfile")
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace([]byte(ts.ReadFile(args[1])))))
	if err != nil || pid <= 1 {
		ts.Fatalf("bad pid in %s", args[1])
	}
	sig := unix.SignalNum("SIG" + args[0])
	if sig == 0 {
		ts.Fatalf("unknown signal %s", args[0])
	}
	ts.Check(unix.Kill(pid, sig))
}

// The CLI sees and stops a daemon that a program started with the library,
// and the program sees what the CLI did.
func TestCLIAndLibraryAgree(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "launcher.toml")
	os.WriteFile(cfg, []byte("pid_dir = \"run\"\nlog_dir = \"log\"\n[daemon.lib]\ncommand = [\"sleep\", \"600\"]\n"), 0o644)
	d, err := launcher.New(launcher.Spec{Name: "lib", Command: []string{"sleep", "600"},
		PIDDir: filepath.Join(dir, "run"), LogDir: filepath.Join(dir, "log"), StartSecs: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	pid := d.PID()
	t.Cleanup(func() { d.ForceStop(); reap(t, d) })
	for d.State() != launcher.Running {
		d.Poll(time.Now()) // StartSecs < 0: running at the first Poll
	}
	var out, errOut bytes.Buffer
	if err := run([]string{"-c", cfg, "status", "--json", "lib"}, &out, &errOut); err != nil {
		t.Fatalf("status: %v %s", err, errOut.String())
	}
	var rows []launcher.Status
	json.Unmarshal(out.Bytes(), &rows)
	if len(rows) != 1 || rows[0].PID != pid || rows[0].State != launcher.Running {
		t.Fatalf("status %s, want lib running as %d", out.String(), pid)
	}
	if err := run([]string{"-c", cfg, "stop", "--wait", "lib"}, &out, &errOut); err != nil {
		t.Fatalf("stop: %v %s", err, errOut.String())
	}
	// The CLI ran in this process and so reaped the exit itself: the
	// library's Daemon sees the process gone, its status unknown.
	reap(t, d)
	if st := d.Status(); st.State != launcher.Stopped || st.PID != 0 {
		t.Fatalf("library sees %+v, want stopped", st)
	}
}

// reap polls d until it is stopped.
func reap(t *testing.T, d *launcher.Daemon) {
	deadline := time.Now().Add(10 * time.Second)
	for d.Poll(time.Now()); d.State() != launcher.Stopped; d.Poll(time.Now()) {
		if time.Now().After(deadline) {
			t.Fatalf("%s still %v", d.Name(), d.State())
		}
		time.Sleep(5 * time.Millisecond) // a poll interval; State decides
	}
}
