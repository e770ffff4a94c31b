//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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
