//go:build linux

package launcher

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	// Younger than StartSecs and never confirmed by its starter: adopted
	// as starting, confirmed here on time.
	if st := d.State(); (st != Starting && st != Running) || d.PID() != pid {
		t.Fatalf("New: state %v pid %d, want starting or running %d", d.State(), d.PID(), pid)
	}
	evs := waitState(t, d, Running)
	if evs[0].Reason != ReasonAdopted || evs[0].From != Stopped || evs[0].PID != pid {
		t.Fatalf("events %v, want an adopted event first", evs)
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

// A pid file or identity record that names any process which is not the
// daemon (a reused pid, another boot's record, another tool's pid file, a
// kernel thread, init) is reported, never adopted, never signalled, and
// Start still works.
func TestNotOursNeverSignalled(t *testing.T) {
	t.Parallel()
	writeID := func(t *testing.T, spec Spec, id identity) {
		if err := writePIDFiles(spec.PIDDir+"/"+spec.Name+".pid", spec.PIDDir+"/"+spec.Name+".id", id); err != nil {
			t.Fatal(err)
		}
	}
	pidFile := func(t *testing.T, spec Spec, pid int) {
		if err := os.WriteFile(spec.PIDDir+"/"+spec.Name+".pid", []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		plant func(t *testing.T, spec Spec, victim int)
	}{
		{"identity-mismatch", func(t *testing.T, spec Spec, pid int) {
			st, _ := readProcStat(pid)
			writeID(t, spec, identity{PID: pid, StartTicks: st.startTicks + 12345, BootID: bootID(), PIDNS: pidNS(), Token: "x"})
		}},
		{"other-boot", func(t *testing.T, spec Spec, pid int) {
			st, _ := readProcStat(pid)
			writeID(t, spec, identity{PID: pid, StartTicks: st.startTicks, BootID: "another-boot", PIDNS: pidNS(), Token: "x"})
		}},
		{"foreign-pid-file", func(t *testing.T, spec Spec, pid int) { pidFile(t, spec, pid) }},
		{"identity-not-session-leader", func(t *testing.T, spec Spec, pid int) {
			st, _ := readProcStat(pid) // the victim does not lead its own session
			writeID(t, spec, identity{PID: pid, StartTicks: st.startTicks, BootID: bootID(), PIDNS: pidNS(), Token: "x"})
		}},
		{"kthreadd", func(t *testing.T, spec Spec, pid int) { pidFile(t, spec, 2) }},
		{"kthreadd-identity", func(t *testing.T, spec Spec, pid int) {
			st, _ := readProcStat(2)
			writeID(t, spec, identity{PID: 2, StartTicks: st.startTicks, BootID: bootID(), PIDNS: pidNS(), Token: "x"})
		}},
	} {
		for _, lock := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/lock=%v", tc.name, lock), func(t *testing.T) {
				t.Parallel()
				spec := testSpec(t, "reused", "sleep")
				victim := exec.Command("sleep", "300")
				if err := victim.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { victim.Process.Kill(); victim.Wait() })
				if lock {
					os.WriteFile(spec.PIDDir+"/reused.lock", nil, 0o644)
				}
				tc.plant(t, spec, victim.Process.Pid)
				d := newDaemon(t, spec)
				if st := d.Status(); st.State != Stopped || st.PID != 0 || st.Problem == "" {
					t.Fatalf("status %+v, want stopped, no pid, a problem", st)
				}
				if evs := d.Poll(time.Now()); len(evs) != 0 {
					t.Fatalf("events %v", evs)
				}
				d.Stop()
				d.ForceStop()
				if err := d.Signal(9); !errors.Is(err, ErrNotRunning) {
					t.Fatalf("Signal = %v, want ErrNotRunning", err)
				}
				if err := d.Start(nil); err != nil || d.PID() == victim.Process.Pid || d.PID() == 2 {
					t.Fatalf("Start: %v, pid %d", err, d.PID())
				}
				if !pidAlive(victim.Process.Pid) {
					t.Fatal("the unrelated process was hit")
				}
			})
		}
	}
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
	if st := d.State(); st != Running && st != Starting {
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
				// Shell builtins only: a child (grep) killed with the group
				// would be left to this test process, unreaped.
				spec.Command = []string{"sh", "-c", "while read -r k v; do case $k in SigIgn:|SigBlk:) echo $k $v;; esac; done < /proc/self/status; exec sleep 300"}
			}
			pid := startOrphan(t, spec, "sh", "-c", `trap "" HUP; exec "$0"`)
			d := newDaemon(t, spec)
			if st := d.State(); (st != Running && st != Starting) || d.PID() != pid {
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

// A signal the program ignores after it started (signal.Ignore) is seen
// without asking the kernel, and the daemon does not inherit it.
func TestSignalIgnoredLaterReset(t *testing.T) {
	if inheritedSignals() {
		t.Skip("this test process already ignores or blocks a signal")
	}
	signal.Ignore(syscall.SIGUSR2)
	t.Cleanup(func() {
		// Reset alone leaves os/signal saying "ignored"; Notify clears it.
		signal.Notify(make(chan os.Signal, 1), syscall.SIGUSR2)
		signal.Reset(syscall.SIGUSR2)
		if inheritedSignals() {
			t.Error("SIGUSR2 still seen as ignored: later spawns go through the shim")
		}
	})
	if !inheritedSignals() {
		t.Fatal("signal.Ignore(SIGUSR2) not seen")
	}
	spec := testSpec(t, "usr2", "")
	spec.Command = []string{"sh", "-c", "while read -r k v; do case $k in SigIgn:) echo $k $v;; esac; done < /proc/self/status; exec sleep 300"}
	d := newDaemon(t, spec)
	d.ReadLog()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	log := waitLog(t, d, "SigIgn:")
	if line := log[strings.Index(log, "SigIgn:"):]; strings.Trim(strings.TrimSpace(strings.SplitN(line[7:], "\n", 2)[0]), "0") != "" {
		t.Fatalf("daemon inherited %s", strings.SplitN(line, "\n", 2)[0])
	}
}

// A controller that stops an adopted daemon itself (no supervisor) logs
// its end and records it for every controller's status, as its starter
// would have: the log and status said nothing of that stop before.
func TestStopOfAdoptedRecorded(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "handed", "")
	spec.Command, spec.StartSecs = []string{"sleep", "300"}, -1
	starter, err := New(spec) // closed at once: d's cleanup stops what it left
	if err != nil {
		t.Fatal(err)
	}
	err = starter.Start(nil)
	pid := starter.PID()
	starter.Close() // leaves it running
	if err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, spec)
	if d.PID() != pid {
		t.Fatalf("not adopted: %+v", d.Status())
	}
	before := time.Now()
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, Stopped)
	b, _ := os.ReadFile(d.LogFile())
	if !strings.Contains(string(b), fmt.Sprintf("launcher: pid %d ", pid)) {
		t.Errorf("no end of pid %d in the log:\n%s", pid, b)
	}
	st := newDaemon(t, spec).Status()
	if st.Reason != ReasonRequested || st.Since.Before(before) {
		t.Errorf("a later look: %+v, want stopped (requested) since the stop", st)
	}
}

// TestZombieNotAdopted: a daemon that exited and that nobody reaped (its
// parent, this test, closed its Manager) is a zombie whose identity record
// still matches. A new Manager does not adopt the dead process (it took
// its exit for a crash it saw and, by policy, left down a daemon wanted
// up): it finds the daemon gone and starts it again, as wanted.
func TestZombieNotAdopted(t *testing.T) {
	dir := t.TempDir()
	opts := Options{PIDDir: dir + "/run", LogDir: dir + "/log"}
	spec := Spec{Name: "dies", Command: []string{"sleep", "600"}, StartSecs: -1}
	m1 := NewManager(opts)
	if err := m1.Add(spec); err != nil {
		t.Fatal(err)
	}
	if err := m1.Start(); err != nil {
		t.Fatal(err)
	}
	w1 := &watcher{t: t, m: m1}
	w1.until("running", w1.state("dies", Running))
	old := daemonOf(m1, "dies").PID()
	m1.Close() // the daemon lives on; nobody reaps it now
	t.Cleanup(func() { reapOrphan(t, old) })
	if err := unix.Kill(old, syscall.SIGKILL); err != nil { // our own child, by its pid
		t.Fatal(err)
	}
	waitFor(t, "the killed daemon to be a zombie", func() bool {
		st, err := readProcStat(old)
		return err == nil && st.state == 'Z'
	}, func() string { st, err := readProcStat(old); return fmt.Sprintf("state %c, %v", st.state, err) })

	m2 := newManager(t, opts)
	if err := m2.Add(spec); err != nil {
		t.Fatal(err)
	}
	d := daemonOf(m2, "dies")
	if p := d.Status().Problem; !strings.Contains(p, "has exited; its parent has not reaped it") {
		t.Errorf("the problem said of the zombie: %q", p)
	}
	w2 := &watcher{t: t, m: m2}
	w2.until("started again", func() bool { return d.State() == Running && d.PID() != old })
	for _, ev := range w2.events {
		if ev.PID == old {
			t.Fatalf("the zombie was taken for the daemon: %v (events %v)", ev, w2.events)
		}
	}
}

// A controller that finds a daemon by its lock in the instant between the
// spawner's exec and the spawner's records (the records still name the old
// process) adopts it and leaves the records to the spawner, which is alive
// and about to write them: its own write, racing the spawner's, replaced
// the time of readiness with nothing, and a controller with a longer
// StartSecs then took the daemon for starting.
func TestRecoveryLeavesRecordsToALiveSpawner(t *testing.T) {
	m, d, w := restartAtOnce(t)
	spec, idFile := d.Spec(), d.f.idPath()
	old := d.PID()

	// The spawn of the replacement holds on after its exec while another
	// controller comes (a CLI's New, say) and finds the child by its lock;
	// the records are looked at then.
	var inWindow identity
	var found int
	orig := spawnFunc
	spawnFunc = func(r spawnRequest) (*process, error) {
		p, err := orig(r)
		if err != nil {
			return p, err
		}
		if late, err := New(spec); err != nil {
			t.Errorf("New while the spawner holds on: %v", err)
		} else {
			found = late.PID()
			late.Close()
		}
		inWindow, _ = readIdentityFile(idFile)
		return p, err
	}
	t.Cleanup(func() { spawnFunc = orig })

	if err := m.Restart("crash"); err != nil {
		t.Fatal(err)
	}
	w.until("replaced", func() bool { return d.State() == Running && d.PID() != old })
	spawnFunc = orig
	if found != d.PID() {
		t.Fatalf("the controller that came while the spawner held on found pid %d, not the child %d", found, d.PID())
	}
	if inWindow.PID != old {
		t.Errorf("while the spawner lived, before its records, the identity record names pid %d (the old %d, the new %d): another controller wrote it",
			inWindow.PID, old, d.PID())
	}
	id, err := readIdentityFile(idFile)
	if err != nil || id.PID != d.PID() || id.Ready.IsZero() {
		t.Errorf("the identity record after the restart: %+v, %v; want pid %d, with its time of readiness", id, err, d.PID())
	}
}

// A controller that adopted a daemon while its spawner lived, and left it
// the records, writes them itself once spawnerGrace has passed without
// them (the spawner died, or could not write): until then the records
// named the old process, and only a fresh controller's scan of /proc found
// the daemon.
func TestRecoveredRecordsWrittenAfterGrace(t *testing.T) {
	m, d, w := restartAtOnce(t)
	spec, idFile := d.Spec(), d.f.idPath()
	old := d.PID()

	// The spawn holds on after its exec, as a spawner that hangs (or died)
	// before its records would, while another controller adopts the child.
	var byObserver identity
	var waited time.Duration
	orig := spawnFunc
	spawnFunc = func(r spawnRequest) (*process, error) {
		p, err := orig(r)
		if err != nil {
			return p, err
		}
		obs, err := New(spec)
		if err != nil {
			t.Errorf("New while the spawner holds on: %v", err)
			return p, nil
		}
		defer obs.Close()
		t0 := time.Now()
		deadline := t0.Add(spawnerGrace + 10*time.Second)
		for time.Now().Before(deadline) {
			if byObserver, _ = readIdentityFile(idFile); byObserver.PID == p.pid {
				break
			}
			select {
			case <-obs.Wake():
				obs.Poll(time.Now())
			case <-time.After(50 * time.Millisecond):
			}
		}
		waited = time.Since(t0)
		return p, nil
	}
	t.Cleanup(func() { spawnFunc = orig })

	if err := m.Restart("crash"); err != nil {
		t.Fatal(err)
	}
	w.until("replaced", func() bool { return d.State() == Running && d.PID() != old })
	spawnFunc = orig
	if byObserver.PID != d.PID() {
		t.Fatalf("the observer never wrote the records of pid %d (they name %d) in %v", d.PID(), byObserver.PID, waited)
	}
	if waited < spawnerGrace/2 {
		t.Errorf("the observer wrote the records %v after it came: before the spawner's grace", waited)
	}
	if byObserver.Token == "" {
		t.Errorf("the observer's record has no token (the spawner line's): %+v", byObserver)
	}
}

// A controller watching a daemon whose replacement was spawned by another
// controller that died before writing its records (they still name the
// old process, and the lock's spawner line a new token) finds the new
// process, and writes the records: it stayed a Zombie of the old process
// with pid 0 for ever, the pid file naming a dead pid.
func TestWatcherFindsReplacementOfDeadSpawner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := Spec{Name: "w", Command: []string{"sleep", "600"}, StartSecs: -1, PIDDir: dir + "/run", LogDir: dir + "/log"}
	first, err := New(spec) // closed below: newDaemon's cleanup would stop it
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(nil); err != nil {
		first.Close()
		t.Fatal(err)
	}
	p1 := first.PID()
	killAtCleanup(t, p1)
	first.Close()
	watch := newDaemon(t, spec)
	if watch.PID() != p1 {
		t.Fatalf("the watcher found pid %d, not %d: %+v", watch.PID(), p1, watch.Status())
	}

	// p1 dies (a zombie: its spawner, this test, does not reap it yet), and
	// "another controller" spawns p2 holding the lock at fd 3, its spawner
	// line naming p1 (dead) and a new token, and writes no records.
	killPID(t, p1, syscall.SIGKILL)
	waitFor(t, "pid "+strconv.Itoa(p1)+" a zombie", func() bool { st, err := readProcStat(p1); return err == nil && st.state == 'Z' },
		func() string { return "" })
	var lock *os.File
	lock, err = os.OpenFile(filepath.Join(dir, "run", "w.lock"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("the lock after pid %d died: %v", p1, err)
	}
	writeSpawner(int(lock.Fd()), spawner{PID: p1, Token: newToken()})
	cmd := exec.Command("sleep", "600")
	cmd.ExtraFiles = []*os.File{lock} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p2 := cmd.Process.Pid
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lock.Close() // p2 holds it now

	waitFor(t, "the watcher on pid "+strconv.Itoa(p2), func() bool { watch.Poll(time.Now()); return watch.PID() == p2 },
		func() string { return fmt.Sprintf("%+v", watch.Status()) })
	if pid, _, err := readPIDFile(filepath.Join(dir, "run", "w.pid")); err != nil || pid != p2 {
		t.Errorf("the pid file names %d (%v), want %d", pid, err, p2)
	}
}
