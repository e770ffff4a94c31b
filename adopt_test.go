package launcher

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startController runs a second controller process in mode "start-and-hang"
// and returns the pid of the daemon it started; the controller is killed
// with SIGKILL and reaped before this returns, so the daemon is orphaned
// (and reparented to this test process, the subreaper).
func startOrphan(t *testing.T, spec Spec, wrap ...string) int {
	t.Helper()
	cmd := helperController(t, "start-and-hang", spec)
	if len(wrap) > 0 {
		cmd.Args = append(wrap, cmd.Path)
		cmd.Path = wrap[0]
		if lp, err := exec.LookPath(wrap[0]); err == nil {
			cmd.Path = lp
		}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out)
	cmd.Process.Kill() // SIGKILL: the controller gets no chance to clean up
	cmd.Wait()
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("controller said %q", b)
	}
	t.Cleanup(func() { reapOrphan(t, pid) })
	return pid
}

func TestAdoptAfterControllerKilled(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "orphan", "sleep")
	pid := startOrphan(t, spec)
	if !pidAlive(pid) {
		t.Fatalf("daemon %d died with its controller", pid)
	}
	d := newDaemon(t, spec)
	if d.State() != Running || d.PID() != pid {
		t.Fatalf("New: state %v pid %d, want running %d", d.State(), d.PID(), pid)
	}
	evs := d.Poll(time.Now())
	if len(evs) != 1 || evs[0].Reason != ReasonAdopted || evs[0].To != Running || evs[0].PID != pid {
		t.Fatalf("first Poll events %v, want one adopted event", evs)
	}
	if err := d.Start(nil); err != nil || d.PID() != pid {
		t.Fatalf("Start of an adopted daemon: %v, pid %d", err, d.PID())
	}
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, Stopped)
	if pidAlive(pid) {
		t.Fatalf("pid %d alive after stop", pid)
	}
	if _, err := os.Stat(d.PIDFile()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("pid file left: %v", err)
	}
}

// A pid file that names a live process which is not the daemon (the pid was
// reused) must never lead to a signal to that process.
func TestPIDReuseNeverSignalled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, spec Spec, pid int)
	}{
		{"identity-mismatch", func(t *testing.T, spec Spec, pid int) {
			st, _ := readProcStat(pid)
			id := identity{PID: pid, StartTicks: st.startTicks + 12345, BootID: bootID(), PIDNS: pidNS(), Token: "x"}
			if err := writePIDFiles(spec.PIDDir+"/"+spec.Name+".pid", spec.PIDDir+"/"+spec.Name+".id", id); err != nil {
				t.Fatal(err)
			}
		}},
		{"other-boot", func(t *testing.T, spec Spec, pid int) {
			st, _ := readProcStat(pid)
			id := identity{PID: pid, StartTicks: st.startTicks, BootID: "another-boot", PIDNS: pidNS(), Token: "x"}
			if err := writePIDFiles(spec.PIDDir+"/"+spec.Name+".pid", spec.PIDDir+"/"+spec.Name+".id", id); err != nil {
				t.Fatal(err)
			}
		}},
		{"pidfile-older-than-process", func(t *testing.T, spec Spec, pid int) {
			path := spec.PIDDir + "/" + spec.Name + ".pid"
			if err := os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour)
			os.Chtimes(path, old, old)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := testSpec(t, "reused", "sleep")
			os.MkdirAll(spec.PIDDir, 0o755)
			victim := exec.Command("sleep", "300")
			if err := victim.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
			tc.plant(t, spec, victim.Process.Pid)
			d := newDaemon(t, spec)
			if d.State() != Stopped || d.PID() != 0 {
				t.Fatalf("state %v pid %d, want stopped 0", d.State(), d.PID())
			}
			if _, err := os.Stat(d.PIDFile()); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("stale pid file not removed: %v", err)
			}
			d.Stop()
			d.ForceStop()
			if err := d.Signal(9); !errors.Is(err, ErrNotRunning) {
				t.Fatalf("Signal = %v, want ErrNotRunning", err)
			}
			if !pidAlive(victim.Process.Pid) {
				t.Fatal("the unrelated process was hit")
			}
		})
	}
}

// A pid file written by another tool (no identity record) after its process
// started is trusted.
func TestAdoptForeignPIDFile(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "foreign", "sleep")
	os.MkdirAll(spec.PIDDir, 0o755)
	other := exec.Command("sleep", "300")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	waitFor(t, "process start", func() bool { _, err := readProcStat(other.Process.Pid); return err == nil }, func() string { return "" })
	os.WriteFile(spec.PIDDir+"/foreign.pid", []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644)
	d := newDaemon(t, spec)
	if d.State() != Running || d.PID() != other.Process.Pid {
		t.Fatalf("state %v pid %d, want running %d", d.State(), d.PID(), other.Process.Pid)
	}
	d.Close() // leave it to exec.Cmd, its parent, to reap
}

// Eight controller processes starting the same daemon at once leave exactly
// one daemon process; none blocks; the losers get nil or ErrBusy.
func TestConcurrentControllersStartOne(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "racy", "sleep")
	const n = 8
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		outs    []string
		writers []io.WriteCloser
		cmds    []*exec.Cmd
	)
	for range n {
		cmd := helperController(t, "race-start", spec)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() }) // by its pid; a no-op once it has been waited for
		cmds, writers = append(cmds, cmd), append(writers, in)
		wg.Add(1)
		go func() {
			defer wg.Done()
			line, _ := bufio.NewReader(out).ReadString('\n')
			mu.Lock()
			outs = append(outs, strings.TrimSpace(line))
			mu.Unlock()
		}()
	}
	for _, w := range writers { // go
		w.Write([]byte("g"))
		w.Close()
	}
	wg.Wait()
	for _, c := range cmds {
		c.Wait()
	}
	pids := map[string]bool{}
	for _, o := range outs {
		f := strings.Fields(o)
		switch {
		case len(f) == 2 && f[0] == "ok":
			pids[f[1]] = true
		case o == "busy":
		default:
			t.Errorf("controller said %q", o)
		}
	}
	if len(pids) != 1 {
		t.Fatalf("controllers report daemon pids %v (outputs %q), want exactly one", pids, outs)
	}
	for p := range pids {
		pid, _ := strconv.Atoi(p)
		t.Cleanup(func() { reapOrphan(t, pid) })
	}
	d := newDaemon(t, spec)
	if d.State() != Running {
		t.Fatalf("state %v after the race", d.State())
	}
	if !pids[strconv.Itoa(d.PID())] {
		t.Fatalf("adopted pid %d, controllers said %v", d.PID(), pids)
	}
	d.Stop()
	waitState(t, d, Stopped)
}

// A controller that runs with SIGHUP ignored (under nohup) must not pass
// that on: the daemon's signal dispositions and mask start clean.
func TestIgnoredSignalsReset(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"command", "func"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			spec := testSpec(t, "nohup-"+kind, "sigign")
			if kind == "command" {
				spec.Func = ""
				spec.Command = []string{"sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status; exec sleep 300"}
			}
			pid := startOrphan(t, spec, "sh", "-c", `trap "" HUP; exec "$0"`)
			d := newDaemon(t, spec)
			if d.State() != Running || d.PID() != pid {
				t.Fatalf("state %v pid %d", d.State(), d.PID())
			}
			var log string
			waitFor(t, "the daemon's signal masks in its log", func() bool {
				b, _ := os.ReadFile(d.LogFile())
				log = string(b)
				return strings.Contains(log, "SigIgn:")
			}, func() string { return log })
			for _, line := range strings.Split(log, "\n") {
				// A Go program's main thread may block signals for its
				// own reasons, so only the command's mask is checked.
				if strings.HasPrefix(line, "SigIgn:") || (kind == "command" && strings.HasPrefix(line, "SigBlk:")) {
					if v := strings.TrimSpace(line[7:]); strings.Trim(v, "0") != "" {
						t.Errorf("daemon inherited %s", line)
					}
				}
			}
			d.ForceStop()
			waitState(t, d, Stopped)
		})
	}
}
