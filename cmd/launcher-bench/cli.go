//go:build linux

package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/proclauncher/launcher"
	"golang.org/x/sys/unix"
)

// buildTools builds the CLI (unless -launcher names one) and the floor's
// helper into the temp dir, with go build, as a user's go install would.
func (b *bench) buildTools() error {
	bin := filepath.Join(b.dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		return err
	}
	what := b.cli
	if b.cli == "" {
		b.cli, what = filepath.Join(bin, "launcher"), "built by the bench with go build"
		if err := b.goBuild(b.cli, "github.com/proclauncher/launcher/cmd/launcher"); err != nil {
			return err
		}
	}
	b.helper = filepath.Join(bin, "floorhelper")
	if err := b.goBuild(b.helper, "github.com/proclauncher/launcher/cmd/launcher-bench/floorhelper"); err != nil {
		return err
	}
	b.note(fmt.Sprintf("CLI: %s, %s; the floor helper (cmd/launcher-bench/floorhelper): %s", what, linkage(b.cli), linkage(b.helper)))
	return nil
}

func (b *bench) goBuild(out, pkg string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(b.ctx, "go", "build", "-o", out, pkg)
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s (run the bench from the module's directory, or pass -launcher): %v\n%s", pkg, err, stderr.Bytes())
	}
	return nil
}

// linkage says whether an executable is static or dynamic (a program
// interpreter loads it).
func linkage(path string) string {
	f, err := elf.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "dynamically linked"
		}
	}
	return "static"
}

// writeConfig writes the CLI's config: the bench Manager's pid and log
// dirs, and its n daemons with daemonSpec's fields.
func (b *bench) writeConfig() (string, error) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "pid_dir = %q\nlog_dir = %q\n", b.pidDir, b.logDir)
	for i := range b.n {
		fmt.Fprintf(&sb, "\n[daemon.d%d]\ncommand = [\"sleep\", \"600\"]\nstart_secs = \"-1s\"\nrestart = \"always\"\n"+
			"restart_delay = \"1ns\"\nmax_restart_delay = \"1ns\"\nmax_restarts = -1\n", i)
	}
	path := filepath.Join(b.dir, "launcher.toml")
	return path, os.WriteFile(path, []byte(sb.String()), 0o644)
}

// measureCLI: (4) stop → exited by `launcher stop NAME`, by the helper,
// by kill, by svc -d, trial after trial; (5) `launcher status` of all n
// beside the helper's.
func (b *bench) measureCLI() error {
	cfg, err := b.writeConfig()
	if err != nil {
		return err
	}
	b.note(fmt.Sprintf("CLI stop: `launcher -c CONFIG stop dK` (K = 1, 2, ...) while the bench's Manager supervises the %d daemons "+
		"(holds their leases, as `launcher up` does), so the request goes to it through dK.want; dK is started again after each trial (not timed)", b.n))
	kill, err := exec.LookPath("kill")
	if err != nil {
		return err
	}
	if b.dt != nil {
		if err := b.dt.ready(); err != nil {
			return err
		}
	}
	b.progress("CLI stop trials")
	if b.cliTrials < b.trials {
		b.note(fmt.Sprintf("%d CLI stop trials, not %d: each CLI run reads the config of %d daemons", b.cliTrials, b.trials, b.n))
	}
	for i := range b.cliTrials {
		name := "d" + strconv.Itoa(1+i%max(b.n-1, 1))
		if b.n == 1 {
			name = "d0"
		}
		// launcher
		d, err := b.m.Daemon(name)
		if err != nil {
			return err
		}
		stopped := func() bool { return d.State() == launcher.Stopped }
		toExit, ret, err := b.stopRun([]string{b.cli, "-c", cfg, "stop", name}, d.PID(), b.m, stopped)
		if err != nil {
			return err
		}
		b.cliStop, b.cliRet = b.keep(b.cliStop, toExit), append(b.cliRet, ret)
		if err := b.m.Start(name); err != nil {
			return err
		}
		if err := b.until(b.m, func() bool { return d.State() == launcher.Running }); err != nil {
			return err
		}
		// the helper: pidfd_send_signal and wait
		if toExit, ret, err = b.floorStop(func(pid int) []string { return []string{b.helper, "stop", strconv.Itoa(pid)} }); err != nil {
			return err
		}
		b.helperStop, b.helperRet = b.keep(b.helperStop, toExit), append(b.helperRet, ret)
		// kill -TERM
		if toExit, _, err = b.floorStop(func(pid int) []string { return []string{kill, "-TERM", strconv.Itoa(pid)} }); err != nil {
			return err
		}
		b.killStop = b.keep(b.killStop, toExit)
		// svc -d
		if b.dt != nil {
			pid, err := b.dt.servicePID(i)
			if err != nil {
				return err
			}
			if toExit, ret, err = b.stopRun([]string{b.dt.svc, "-d", b.dt.dirs[i]}, pid, nil, nil); err != nil {
				return err
			}
			b.svcStop, b.svcRet = b.keep(b.svcStop, toExit), append(b.svcRet, ret)
		}
	}
	b.progress("CLI status runs")
	runs := max(3, min(20, 20_000/b.n))
	for range runs {
		t0, ret, code, err := b.command([]string{b.cli, "-c", cfg, "status"}, b.m, nil)
		if err != nil && code != 3 {
			return err
		}
		b.statusCode = code
		b.cliStatus = append(b.cliStatus, time.Duration(ret-t0))
		if t0, ret, _, err = b.command([]string{b.helper, "status", b.pidDir}, b.m, nil); err != nil {
			return err
		}
		b.helperStatus = append(b.helperStatus, time.Duration(ret-t0))
	}
	if b.statusCode != 0 {
		b.note(fmt.Sprintf("`launcher status` exited with status %d (3: not all running)", b.statusCode))
	}
	b.note("status floor: floorhelper status PIDDIR reads the dir, each <name>.pid and /proc/<pid>/stat (alive, start time) and prints a line per daemon")
	return nil
}

// keep appends a stop's time unless the connector lost it.
func (b *bench) keep(ds []time.Duration, d time.Duration) []time.Duration {
	if d < 0 {
		b.skipped++
		return ds
	}
	return append(ds, d)
}

// floorStop starts a process of the floor's, stops it with the command
// argv(pid) and reaps it.
func (b *bench) floorStop(argv func(pid int) []string) (toExit, ret time.Duration, err error) {
	p, err := os.StartProcess(b.sleep, []string{"sleep", "600"}, &b.attr)
	if err != nil {
		return 0, 0, err
	}
	b.procs = append(b.procs, p)
	toExit, ret, err = b.stopRun(argv(p.Pid), p.Pid, nil, nil)
	if err == nil {
		_, err = p.Wait()
		b.procs = b.procs[:len(b.procs)-1]
	}
	return toExit, ret, err
}

// stopRun runs a stop command for pid and returns how long from its start
// until pid exited (the kernel's exit time when the connector is there,
// else when a pidfd on it turned readable; -1 when the connector lost the
// exit) and until the command returned. With m, it serves m's loop
// meanwhile (m is the supervisor the command's request goes to) and goes
// on until done.
func (b *bench) stopRun(argv []string, pid int, m *launcher.Manager, done func() bool) (toExit, ret time.Duration, err error) {
	pidfd, err := pidfdOpen(pid)
	if err != nil {
		return 0, 0, fmt.Errorf("pidfd of %d: %v", pid, err)
	}
	defer unix.Close(pidfd)
	var seen chan int64
	if b.conn == nil {
		seen = make(chan int64, 1)
		go func() { ts, _ := waitReadable(pidfd, time.Minute); seen <- ts }()
	}
	if m != nil {
		if err := b.quiet(m); err != nil {
			return 0, 0, err
		}
	}
	b.conn.drainAll()
	t0, tRet, _, err := b.command(argv, m, done)
	if err != nil {
		return 0, 0, err
	}
	var exitAt int64
	if b.conn == nil {
		exitAt = <-seen
	} else {
		if _, err := waitReadable(pidfd, time.Minute); err != nil {
			return 0, 0, fmt.Errorf("%s: pid %d: %v", strings.Join(argv, " "), pid, err)
		}
		exitAt, _ = b.conn.stamps(pid, 0)
	}
	return since(t0, exitAt), time.Duration(tRet - t0), nil
}

// command runs argv (stdin and stdout /dev/null, stderr to cmd.err) and
// returns when it has returned and done (if any) holds, serving m's loop
// meanwhile if m is not nil: t0 just before the spawn, and when it
// returned. A non-zero exit is an error with its stderr.
func (b *bench) command(argv []string, m *launcher.Manager, done func() bool) (t0, ret int64, code int, err error) {
	b.cmdErr.Truncate(0)
	b.cmdErr.Seek(0, io.SeekStart)
	type result struct {
		at  int64
		st  *os.ProcessState
		err error
	}
	attr := &os.ProcAttr{Files: []*os.File{b.devnull, b.devnull, b.cmdErr}}
	var wake <-chan struct{}
	var events <-chan launcher.Event
	if m != nil {
		wake, events = m.Wake(), m.Events()
	}
	t0 = mono()
	p, err := os.StartProcess(argv[0], argv, attr)
	if err != nil {
		return 0, 0, 0, err
	}
	b.cmd = p
	ch := make(chan result, 1)
	go func() { st, err := p.Wait(); ch <- result{mono(), st, err} }()
	timeout := time.NewTimer(10 * time.Minute)
	defer timeout.Stop()
	var r *result
	for r == nil || done != nil && !done() {
		select {
		case got := <-ch:
			r = &got
			b.cmd = nil
		case <-wake:
			m.Poll(time.Now())
		case <-events:
		case <-b.ctx.Done():
			err = b.ctx.Err()
		case <-timeout.C:
			err = fmt.Errorf("%s: no end after 10m (returned: %v)", strings.Join(argv, " "), r != nil)
		}
		if err != nil {
			if r == nil {
				p.Kill()
				<-ch
				b.cmd = nil
			}
			return 0, 0, 0, err
		}
	}
	if r.err != nil {
		return 0, 0, 0, r.err
	}
	if code = r.st.ExitCode(); code != 0 {
		msg, _ := os.ReadFile(b.cmdErr.Name())
		err = fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), r.st, bytes.TrimSpace(msg))
	}
	return t0, r.at, code, err
}

// daemontools is one supervise per service (what svscan would start),
// each running `sleep 600`, controlled with svc: the anchor of the CLI
// stop. Made as /work/shared/bench/drivers/daemontools.sh makes them, but
// without svscan (it only starts the supervise processes) and up from the
// start (no down file).
type daemontools struct {
	svc     string
	dirs    []string
	sups    []*os.Process
	started time.Time
}

// startDaemontools starts k services, or returns nil when daemontools is
// not installed.
func startDaemontools(b *bench, k int) (*daemontools, error) {
	svc, err1 := exec.LookPath("svc")
	sup, err2 := exec.LookPath("supervise")
	if err1 != nil || err2 != nil {
		b.note("svc -d: daemontools is not installed (apt-get install -y --no-install-recommends daemontools)")
		return nil, nil
	}
	version := "daemontools"
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "daemontools").Output(); err == nil {
		version += " " + string(out)
	}
	b.note(fmt.Sprintf("svc -d: %s; %d services, one supervise each (as svscan starts them), each `sleep 600`, each stopped once", version, k))
	dt := &daemontools{svc: svc, started: time.Now()}
	root := filepath.Join(b.dir, "service")
	for i := range k {
		dir := filepath.Join(root, fmt.Sprintf("svc%03d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return dt, err
		}
		if err := os.WriteFile(filepath.Join(dir, "run"), []byte("#!/bin/sh\nexec sleep 600\n"), 0o755); err != nil {
			return dt, err
		}
		p, err := os.StartProcess(sup, []string{"supervise", dir}, &b.attr)
		if err != nil {
			return dt, err
		}
		dt.dirs, dt.sups = append(dt.dirs, dir), append(dt.sups, p)
	}
	return dt, nil
}

// ready waits until every service runs sleep, and supervise takes
// commands again (it sleeps 1s after it starts a service).
func (dt *daemontools) ready() error {
	for i := range dt.dirs {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			pid, err := dt.servicePID(i)
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); err == nil && string(comm) == "sleep\n" {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("daemontools: %s is not up after 30s", dt.dirs[i])
			}
		}
	}
	time.Sleep(time.Until(dt.started.Add(1500 * time.Millisecond)))
	return nil
}

// servicePID returns the pid of service i: supervise's child.
func (dt *daemontools) servicePID(i int) (int, error) {
	pid := strconv.Itoa(dt.sups[i].Pid)
	b, err := os.ReadFile("/proc/" + pid + "/task/" + pid + "/children")
	f := strings.Fields(string(b))
	if err != nil || len(f) != 1 {
		return 0, fmt.Errorf("daemontools: %s runs no service (%q, %v)", dt.dirs[i], b, err)
	}
	return strconv.Atoi(f[0])
}

// teardown stops every service and supervise (svc -dx), waits for them,
// and kills what is left after 10s (its orphans come to us, a subreaper).
func (dt *daemontools) teardown() error {
	if dt == nil || len(dt.sups) == 0 {
		return nil
	}
	var kids []int
	for i := range dt.sups {
		if pid, err := dt.servicePID(i); err == nil {
			kids = append(kids, pid)
		}
	}
	err := exec.Command(dt.svc, append([]string{"-dx"}, dt.dirs...)...).Run()
	done := make(chan struct{})
	go func() {
		for _, p := range dt.sups {
			p.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		for _, pid := range kids {
			unix.Kill(pid, unix.SIGKILL)
		}
		for _, p := range dt.sups {
			p.Kill()
		}
		<-done
		for _, pid := range kids { // orphans now, reparented to us
			var ws unix.WaitStatus
			unix.Wait4(pid, &ws, 0, nil)
		}
		err = errors.Join(err, errors.New("daemontools: supervise did not exit after svc -dx; killed"))
	}
	dt.sups = nil
	return err
}
