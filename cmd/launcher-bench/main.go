//go:build linux

// Command launcher-bench measures launcher against its floors (the same
// work done with bare system calls, or by daemontools), side by side in
// one process run, so that both see the same machine load:
//
//	go run ./cmd/launcher-bench [-n 100] [-trials 50] [-json]
//
// Run it from the module (it builds the CLI and a floor helper with go
// build) and as root for the kernel's timestamps (the proc connector).
// Every daemon is `sleep 600`. Everything it starts, launcher's daemons,
// the floor's processes and daemontools' supervise alike, is killed and
// reaped before it exits, also on an error or Ctrl-C.
//
// What it measures, each beside its floor, with n daemons running:
//
//  1. kill -9 → replacement exec'd (a Manager with RestartAlways), beside a
//     bare supervisor: pidfd readable, waitid, spawn;
//  2. kernel exit → event on the Events channel, beside pidfd wake + waitid;
//  3. start n until all exec'd, beside n bare spawns, and beside those
//     spawns plus the 5n files a start creates (the file system's share);
//  4. `launcher stop NAME` → the daemon exited, the bench's Manager
//     supervising (as `launcher up` would), beside a static helper that
//     signals through a pidfd and waits, `kill`, and daemontools' `svc -d`;
//  5. `launcher status` of all n, beside a helper that reads the n pid
//     files and /proc/PID/stat;
//  6. the idle Manager's wake-ups, context switches and CPU;
//  7. the controller's PSS, and bytes and fds per daemon;
//  8. library calls with n daemons (Status, Poll), beside the same calls
//     on a Manager of one daemon; a Status while Start of all n runs.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/proclauncher/launcher"
	"golang.org/x/sys/unix"
)

func main() {
	// First thing: in a re-exec of this program (launcher's shim) Main
	// execs the daemon's command instead of returning.
	launcher.Main()
	b := &bench{pidfd: -1}
	flag.IntVar(&b.n, "n", 100, "number of daemons to start and supervise")
	flag.IntVar(&b.trials, "trials", 50, "number of trials of each kill and stop measure")
	flag.BoolVar(&b.jsonOut, "json", false, "print one JSON object with every figure instead of the table")
	flag.DurationVar(&b.idle, "idle", 5*time.Second, "how long to watch the idle Manager")
	flag.StringVar(&b.cli, "launcher", "", "the launcher CLI to measure (default: go build ./cmd/launcher into a temp dir)")
	flag.Parse()
	b.cmdline = "launcher-bench " + fmt.Sprint(os.Args[1:])
	// A signal cancels ctx and run cleans up before it returns; signals
	// that come during the clean-up are swallowed, so it is not cut short.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	b.ctx = ctx
	err := b.run()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "launcher-bench:", err)
		os.Exit(1)
	}
}

// bench holds everything run starts, so that it can be killed and reaped
// whichever way run leaves, and what it measured.
type bench struct {
	ctx       context.Context
	n, trials int
	cliTrials int // of the CLI stop: fewer at large n, where each CLI run takes long
	jsonOut   bool
	idle      time.Duration
	cmdline   string
	notes     []string

	dir     string      // pid files, logs, built binaries
	sleep   string      // the path of sleep, looked up once as a supervisor would
	attr    os.ProcAttr // the floor's spawn, as launcher's: setsid, stdin /dev/null, output to an O_APPEND log
	devnull *os.File
	m       *launcher.Manager // n daemons d0 ... d<n-1>
	pidDir  string            // m's
	logDir  string
	runner  bool              // another goroutine polls m: loops read Events only
	mini    *launcher.Manager // one daemon: the floor of library calls
	procs   []*os.Process     // the floor's live processes
	pidfd   int               // our own pidfd on procs[0] in the kill floor, else -1
	conn    *procConn         // the kernel's exit and exec timestamps; nil without root
	skipped int               // trials left out: the connector lost their events

	cli, helper string       // the CLI measured, the floor's helper
	cmdErr      *os.File     // the commands' stderr
	cmd         *os.Process  // a command running now
	dt          *daemontools // nil when not installed

	// launcher's and the floor's times
	start, kill, exit, stop                pair
	startFiles                             pair            // start beside bare spawns + the files a start creates
	killRun, exitRun                       pair            // with another goroutine polling
	cliStop, helperStop, killStop, svcStop []time.Duration // command started → daemon exited
	cliRet, helperRet, svcRet              []time.Duration // command started → it returned
	cliStatus, helperStatus                []time.Duration
	statusCode                             int // the last `launcher status` exit status
	// idle: with n daemons, and before any Manager (the floor)
	wakes, csw, csw0 int64
	cpu, cpu0        time.Duration
	// memory
	pss0, pssN, pssFreed, heap0, heapN int64
	fds0, fdsN                         int // before the first Manager, with the last one's n daemons running
	// library calls: with n daemons, and on a Manager of one (the floor)
	statusOne, pollIdle, statusAll pair
	duringStart                    []time.Duration // m.Daemon(x).Status() while Start runs
}

type pair struct{ l, f []time.Duration }

func (p *pair) add(l, f time.Duration) { p.l, p.f = append(p.l, l), append(p.f, f) }

func (b *bench) run() (err error) {
	if b.n < 1 || b.trials < 1 {
		return errors.New("-n and -trials must be at least 1")
	}
	b.heap0, b.pss0 = heapLive(), pss()
	load := loadavg()
	if b.dir, err = os.MkdirTemp("", "launcher-bench-"); err != nil {
		return err
	}
	// Whichever way run leaves, kill and reap what it started.
	defer func() {
		if b.cmd != nil {
			b.cmd.Kill()
			b.cmd.Wait()
		}
		err = errors.Join(err, b.reapFloor(), b.shutdown(&b.m), b.shutdown(&b.mini), b.dt.teardown(), os.RemoveAll(b.dir))
		b.conn.close()
	}()
	// Two fds per daemon, and the bench's own: daemontools' supervise
	// processes, the floor's, the CLI's pipes.
	nofile, err := raiseNofile(b.n, 2*b.n+b.trials+256)
	if err != nil {
		return err
	}
	b.note(nofile)
	b.note(fmt.Sprintf("pid dirs and logs under %s, a %s file system (set TMPDIR to move them): every start writes "+
		"its records with create+rename, whose cost is the file system's", b.dir, fsType(b.dir)))
	// Orphans come to us (a supervise killed in a failed teardown leaves
	// its service), so that we can reap them too.
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	if b.sleep, err = exec.LookPath("sleep"); err != nil {
		return err
	}
	devnull, err1 := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	logf, err2 := os.OpenFile(filepath.Join(b.dir, "floor.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	cmdErr, err3 := os.OpenFile(filepath.Join(b.dir, "cmd.err"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	defer devnull.Close()
	defer logf.Close()
	defer cmdErr.Close()
	b.devnull, b.cmdErr = devnull, cmdErr
	b.attr = os.ProcAttr{Files: []*os.File{devnull, logf, logf}, Sys: &syscall.SysProcAttr{Setsid: true}}
	warnShim()
	if b.conn, err = openProcConn(); err != nil {
		b.conn = nil
		b.note("no proc connector (" + err.Error() + "; it needs root): times are taken when this process sees the exit or exec, not from the kernel")
	} else {
		b.note("exit and exec times are the kernel's (proc connector timestamps, CLOCK_MONOTONIC)")
	}
	b.progress("building the CLI and the floor helper")
	if err := b.buildTools(); err != nil {
		return err
	}
	b.cliTrials = b.trials
	if b.n > 1000 {
		b.cliTrials = max(5, b.trials*1000/b.n)
	}
	// daemontools first: supervise holds back commands for 1s after it
	// starts a service.
	if b.dt, err = startDaemontools(b, b.cliTrials); err != nil {
		return err
	}
	b.fds0 = openFDs()
	for _, step := range []func() error{b.measureIdleFloor, b.measureStart, b.measureKillStop, b.measureIdle, b.measureCalls, b.measureCLI} {
		if err := step(); err != nil {
			return err
		}
	}
	b.note(fmt.Sprintf("load average (1, 5, 15 min) at the start: %s, at the end: %s", load, loadavg()))
	if b.skipped > 0 {
		b.note(fmt.Sprintf("%d trials left out: the proc connector dropped their events", b.skipped))
	}
	b.report()
	return nil
}

func (b *bench) note(s string) { b.notes = append(b.notes, s) }

// progress says on stderr what the bench is doing: runs at -n 10000 are long.
func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "launcher-bench: "+format+"\n", args...)
}

// newManager makes a Manager of n daemons prefix0 ... in dir, each `sleep
// 600` restarted at once when it ends: RestartDelay and MaxRestartDelay
// 1ns (else the delay doubles with each restart), Jitter 0 (the delay
// rounds to 0, so the restart is made in the Poll that sees the exit, not
// at a later timer wake-up), MaxRestarts -1 (else it gives up after 5 in
// 60s), StartSecs -1 (running at the first Poll).
func newManager(dir, prefix string, n int) (*launcher.Manager, error) {
	m := launcher.NewManager(launcher.Options{PIDDir: dir + "/run", LogDir: dir + "/log", Jitter: func() float64 { return 0 }})
	for i := range n {
		if err := m.Add(daemonSpec(prefix + strconv.Itoa(i))); err != nil {
			return m, err
		}
	}
	return m, nil
}

// daemonSpec is every daemon's spec; writeConfig says the same in TOML.
func daemonSpec(name string) launcher.Spec {
	return launcher.Spec{Name: name, Command: []string{"sleep", "600"}, StartSecs: -1,
		Restart: launcher.RestartAlways, RestartDelay: time.Nanosecond, MaxRestartDelay: time.Nanosecond, MaxRestarts: -1}
}

// measureStart: (3) start n until all are exec'd, three rounds of floor
// then launcher (one sample is noisy); then (8) a fourth, untimed round in
// which Start runs in a goroutine of its own while this one times Status
// calls. The last Manager stays, its daemons running, for the other
// measures.
func (b *bench) measureStart() error {
	for round := range 4 {
		if err := b.shutdown(&b.m); err != nil {
			return err
		}
		concurrent := round == 3
		var floor time.Duration
		if !concurrent {
			b.progress("start round %d: %d bare spawns", round+1, b.n)
			t0 := time.Now()
			for range b.n {
				p, err := os.StartProcess(b.sleep, []string{"sleep", "600"}, &b.attr)
				if err != nil {
					return err
				}
				b.procs = append(b.procs, p)
			}
			floor = time.Since(t0)
			if err := b.reapFloor(); err != nil {
				return err
			}
		}
		b.progress("start round %d: launcher, %d daemons", round+1, b.n)
		dir := filepath.Join(b.dir, strconv.Itoa(round))
		m, err := newManager(dir, "d", b.n)
		b.m, b.pidDir, b.logDir = m, dir+"/run", dir+"/log"
		t0, started := time.Now(), 0
		if err == nil && concurrent {
			done := make(chan error, 1)
			go func() { done <- m.Start() }()
			err = b.sampleDuringStart(done)
		} else if err == nil {
			err = m.Start()
		}
		if err == nil { // the starting event is made right after the daemon's exec
			err = b.loop(m, func(ev launcher.Event) bool { started += boolInt(ev.To == launcher.Starting); return started == b.n })
		}
		if err != nil {
			return err
		}
		if !concurrent {
			took := time.Since(t0)
			files, err := createLikeStart(filepath.Join(b.dir, "files-"+strconv.Itoa(round)), b.n)
			if err != nil {
				return err
			}
			b.start.add(took, floor)
			b.startFiles.add(took, floor+files)
		}
	}
	err := b.until(b.m, func() bool { return allIn(b.m, launcher.Running) })
	b.fdsN = openFDs()
	return err
}

// createLikeStart creates, in a new dir, the files that a first start of
// n daemons creates (the lock, the log, and the records <name>.want,
// <name>.id and <name>.pid, each a temp file renamed into place) and says
// how long that took: the file system's share of a start. On an ext4 where
// many inodes were freed in the last minutes (the previous round's records,
// removed at its shutdown), each create can take hundreds of microseconds
// (ext4 skips recently freed inodes when it has no journal).
func createLikeStart(dir string, n int) (time.Duration, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	t0 := time.Now()
	for i := range n {
		base := filepath.Join(dir, "d"+strconv.Itoa(i))
		for _, ext := range []string{".lock", ".log"} {
			f, err := os.OpenFile(base+ext, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				return 0, err
			}
			f.WriteString("x\n")
			f.Close()
		}
		for _, ext := range []string{".want", ".id", ".pid"} {
			tmp := filepath.Join(dir, ".d"+strconv.Itoa(i)+ext+".tmp")
			if err := os.WriteFile(tmp, []byte("12345\n"), 0o644); err != nil {
				return 0, err
			}
			if err := os.Rename(tmp, base+ext); err != nil {
				return 0, err
			}
		}
	}
	return time.Since(t0), nil
}

// sampleDuringStart times m.Daemon(x).Status() every 100µs or so until
// Start (in another goroutine) is done; x is a daemon half-way down the
// list.
func (b *bench) sampleDuringStart(done <-chan error) error {
	name := "d" + strconv.Itoa(b.n/2)
	for {
		select {
		case err := <-done:
			return err
		default:
		}
		t := time.Now()
		if d, err := b.m.Daemon(name); err == nil {
			d.Status()
		}
		b.duringStart = append(b.duringStart, time.Since(t))
		time.Sleep(100 * time.Microsecond)
	}
}

// measureKillStop: (1) kill -9 → replacement exec'd, (2) exit → event,
// and Manager.Stop → exited, of daemon d0 among n. Each trial is followed
// by the floor's, so that a change of load hits both alike.
func (b *bench) measureKillStop() error {
	b.progress("kill -9 and Stop trials of d0 among %d", b.n)
	if err := b.floorSpawn(); err != nil {
		return err
	}
	// trials runs the trials of sig, each followed by the floor's, and
	// hands both to add.
	trials := func(sig syscall.Signal, add func(l, f times)) error {
		for range b.trials {
			l, err := b.trial(sig)
			if err != nil {
				return err
			}
			f, err := b.floorTrial(sig)
			if err != nil {
				return err
			}
			add(l, f)
		}
		return nil
	}
	err := trials(syscall.SIGKILL, func(l, f times) {
		b.addTimes(&b.kill, l.toExec(b.conn), f.toExec(b.conn))
		b.addTimes(&b.exit, l.toSeen(b.conn), f.toSeen(b.conn))
	})
	if err != nil {
		return err
	}
	// The same kills with another goroutine polling (Run's loop; Run
	// itself would stop every daemon when it ends) and this one reading
	// Events only: an event is then received as soon as Poll puts it on
	// the channel, not once Poll has returned.
	ctx, cancel := context.WithCancel(b.ctx)
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		for wake := b.m.Wake(); ; {
			select {
			case <-ctx.Done():
				return
			case <-wake:
				b.m.Poll(time.Now())
			}
		}
	}()
	b.runner = true
	err = trials(syscall.SIGKILL, func(l, f times) {
		b.addTimes(&b.killRun, l.toExec(b.conn), f.toExec(b.conn))
		b.addTimes(&b.exitRun, l.toSeen(b.conn), f.toSeen(b.conn))
	})
	cancel()
	<-ran
	b.runner = false
	if err != nil {
		return err
	}
	return trials(syscall.SIGTERM, func(l, f times) { b.addTimes(&b.stop, l.stopped(b.conn), f.stopped(b.conn)) })
}

// addTimes adds a pair whose both halves are known; a trial whose events
// the connector dropped is left out.
func (b *bench) addTimes(p *pair, l, f time.Duration) {
	if l < 0 || f < 0 {
		b.skipped++
		return
	}
	p.add(l, f)
}

// times are one trial's instants, in mono() ns; 0 when not seen.
type times struct {
	t0       int64 // the kill or stop was asked for
	exitK    int64 // the kernel: the process exited
	exitSeen int64 // launcher: the exit event arrived; the floor: waitid returned
	execK    int64 // the kernel: the replacement exec'd
	execSeen int64 // launcher: the starting event arrived; the floor: StartProcess returned
}

// toExec is kill → replacement exec'd: the kernel's exec when known, else
// when it was seen. -1: the connector lost it.
func (t times) toExec(c *procConn) time.Duration {
	if c == nil {
		return time.Duration(t.execSeen - t.t0)
	}
	return since(t.t0, t.execK)
}

// toSeen is exit → seen: from the kernel's exit when known, else from
// the kill.
func (t times) toSeen(c *procConn) time.Duration {
	if c == nil {
		return time.Duration(t.exitSeen - t.t0)
	}
	return since(t.exitK, t.exitSeen)
}

// stopped is stop → exited: to the kernel's exit when known.
func (t times) stopped(c *procConn) time.Duration {
	if c == nil {
		return time.Duration(t.exitSeen - t.t0)
	}
	return since(t.t0, t.exitK)
}

func since(from, to int64) time.Duration {
	if from == 0 || to == 0 {
		return -1
	}
	return time.Duration(to - from)
}

// trial ends d0 and runs the caller's loop until it runs again. SIGKILL
// is a crash: the Manager restarts it. SIGTERM is a Stop, after which d0
// is started again (not timed).
func (b *bench) trial(sig syscall.Signal) (t times, err error) {
	d, err := b.m.Daemon("d0")
	if err != nil {
		return t, err
	}
	old, newPID, exited := d.PID(), 0, false
	if err := b.quiet(b.m); err != nil {
		return t, err
	}
	b.conn.drainAll()
	t.t0 = mono()
	if sig == syscall.SIGTERM {
		err = b.m.Stop("d0")
	} else {
		err = d.Signal(sig)
	}
	if err == nil {
		err = b.loop(b.m, func(ev launcher.Event) bool {
			switch {
			case ev.Daemon != "d0":
			case ev.To == launcher.Zombie && ev.PID == old:
				t.exitSeen, exited = mono(), true
			case ev.From == launcher.Stopped && ev.To == launcher.Starting && exited:
				t.execSeen, newPID = mono(), ev.PID
			case ev.To == launcher.Stopped && sig == syscall.SIGTERM && exited,
				ev.To == launcher.Running && newPID != 0 && ev.PID == newPID:
				return true
			}
			return false
		})
	}
	t.exitK, t.execK = b.conn.stamps(old, newPID)
	if err == nil && sig == syscall.SIGTERM {
		if err = b.m.Start("d0"); err == nil {
			err = b.until(b.m, func() bool { return d.State() == launcher.Running })
		}
	}
	return t, err
}

// quiet polls m and drops the events that wait, so that a trial sees only
// its own.
func (b *bench) quiet(m *launcher.Manager) error {
	for {
		if !b.runner {
			m.Poll(time.Now())
		}
		select {
		case <-b.ctx.Done():
			return b.ctx.Err()
		case <-m.Events():
		default:
			return nil
		}
	}
}

// floorTrial is a supervisor without launcher: signal through the pidfd,
// wait until it is readable, reap with waitid, start a replacement.
func (b *bench) floorTrial(sig syscall.Signal) (t times, err error) {
	old := b.procs[0].Pid
	b.conn.drainAll()
	t.t0 = mono()
	if err := unix.PidfdSendSignal(b.pidfd, sig, nil, 0); err != nil {
		return t, err
	}
	pfd := []unix.PollFd{{Fd: int32(b.pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, 10_000)
	for errors.Is(err, unix.EINTR) {
		n, err = unix.Poll(pfd, 10_000)
	}
	var info unix.Siginfo
	if n != 1 || unix.Waitid(unix.P_PIDFD, b.pidfd, &info, unix.WEXITED, nil) != nil {
		return t, fmt.Errorf("floor: no exit after %v: %v", sig, err)
	}
	t.exitSeen = mono()
	unix.Close(b.pidfd)
	b.procs[0].Release()
	b.procs, b.pidfd = nil, -1
	err = b.floorSpawn()
	t.execSeen = mono()
	if err == nil {
		t.exitK, t.execK = b.conn.stamps(old, b.procs[0].Pid)
	}
	return t, err
}

// measureIdleFloor: (6)'s floor: this process's context switches and
// CPU time over b.idle before any Manager (the Go runtime's own).
func (b *bench) measureIdleFloor() error {
	b.progress("idle, %v, no Manager yet", b.idle)
	cpu0, csw0 := usage()
	select {
	case <-b.ctx.Done():
		return b.ctx.Err()
	case <-time.After(b.idle):
	}
	cpu, csw := usage()
	b.cpu0, b.csw0 = cpu-cpu0, csw-csw0
	return nil
}

// measureIdle: (6) the Manager's wake-ups, this process's context switches
// and CPU time over b.idle with n running daemons and nothing happening;
// (7) its memory and fds then.
func (b *bench) measureIdle() error {
	b.progress("idle, %v", b.idle)
	if err := b.quiet(b.m); err != nil { // what is left from the trials is not idle work
		return err
	}
	select {
	case <-b.m.Wake():
		b.m.Poll(time.Now())
	default:
	}
	cpu0, csw0 := usage()
	end := time.After(b.idle)
	for {
		select {
		case <-b.ctx.Done():
			return b.ctx.Err()
		case <-b.m.Wake():
			b.wakes++
			b.m.Poll(time.Now())
		case ev := <-b.m.Events():
			return fmt.Errorf("event while idle: %v", ev)
		case <-end:
			cpu, csw := usage()
			b.cpu, b.csw = cpu-cpu0, csw-csw0
			b.pssN = pss()
			b.heapN = heapLive()
			debug.FreeOSMemory()
			b.pssFreed = pss()
			return nil
		}
	}
}

// measureCalls: (8) library calls with n daemons, beside the same calls on
// a Manager of one daemon, in the same run.
func (b *bench) measureCalls() error {
	b.progress("library calls")
	var err error
	if b.mini, err = newManager(filepath.Join(b.dir, "mini"), "m", 1); err != nil {
		return err
	}
	if err := b.mini.Start(); err != nil {
		return err
	}
	if err := b.until(b.mini, func() bool { return allIn(b.mini, launcher.Running) }); err != nil {
		return err
	}
	type sample struct {
		p    *pair
		runs int
		call func(m *launcher.Manager, name string)
	}
	allRuns := max(5, min(200, 200_000/b.n))
	for _, s := range []sample{
		{&b.statusOne, 2000, func(m *launcher.Manager, name string) {
			if d, err := m.Daemon(name); err == nil {
				d.Status()
			}
		}},
		{&b.pollIdle, 2000, func(m *launcher.Manager, name string) { m.Poll(time.Now()) }},
		{&b.statusAll, allRuns, func(m *launcher.Manager, name string) { m.Status() }},
	} {
		var l, f []time.Duration
		for _, mm := range []struct {
			m    *launcher.Manager
			name string
			out  *[]time.Duration
		}{{b.m, "d" + strconv.Itoa(b.n/2), &l}, {b.mini, "m0", &f}} {
			if _, err := mm.m.Daemon(mm.name); err != nil {
				return err
			}
			for range s.runs {
				t := time.Now()
				s.call(mm.m, mm.name)
				*mm.out = append(*mm.out, time.Since(t))
			}
		}
		s.p.l, s.p.f = l, f
	}
	return b.shutdown(&b.mini)
}

// loop is a caller's select loop: Poll when Wake fires, hand every event
// to match until it returns true. It stops when ctx is done, and gives up
// after 60s so that a broken Manager does not hang the run.
func (b *bench) loop(m *launcher.Manager, match func(launcher.Event) bool) error {
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	wake := b.wake(m)
	var last []string // the events seen, for the error
	for {
		select {
		case <-b.ctx.Done():
			return b.ctx.Err()
		case <-timeout.C:
			return fmt.Errorf("timed out waiting for an event; the last ones: %s", strings.Join(last, "; "))
		case <-wake:
			m.Poll(time.Now())
		case ev := <-m.Events():
			last = append(last[max(len(last)-9, 0):], ev.String())
			if ev.Reason == launcher.ReasonGaveUp || ev.Reason == launcher.ReasonStartFailed || ev.Err != nil {
				return fmt.Errorf("unexpected event: %v", ev)
			}
			if match(ev) {
				return nil
			}
		}
	}
}

// until runs m's loop, events dropped, until cond holds. It looks at
// cond once per batch of events, not per event: cond may look at all n.
func (b *bench) until(m *launcher.Manager, cond func() bool) error {
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	wake := b.wake(m)
	for !cond() {
		select {
		case <-b.ctx.Done():
			return b.ctx.Err()
		case <-timeout.C:
			return errors.New("timed out waiting for the daemons' states")
		case <-wake:
			m.Poll(time.Now())
		case <-m.Events():
			for drained := false; !drained; {
				select {
				case <-m.Events():
				default:
					drained = true
				}
			}
		}
	}
	return nil
}

// wake is m's Wake, or nil (never ready) while another goroutine polls m.
func (b *bench) wake(m *launcher.Manager) <-chan struct{} {
	if b.runner && m == b.m {
		return nil
	}
	return m.Wake()
}

func allIn(m *launcher.Manager, st launcher.State) bool {
	return !slices.ContainsFunc(m.Daemons(), func(d *launcher.Daemon) bool { return d.State() != st })
}

// floorSpawn starts the kill floor's one process with a pidfd of our own
// (the os.Process keeps a duplicate).
func (b *bench) floorSpawn() error {
	attr := b.attr
	attr.Sys = &syscall.SysProcAttr{Setsid: true, PidFD: &b.pidfd}
	p, err := os.StartProcess(b.sleep, []string{"sleep", "600"}, &attr)
	if err == nil {
		b.procs = []*os.Process{p}
	}
	return err
}

// reapFloor kills and reaps the floor's processes.
func (b *bench) reapFloor() (err error) {
	for _, p := range b.procs {
		p.Kill()
	}
	for _, p := range b.procs {
		_, werr := p.Wait()
		err = errors.Join(err, werr)
	}
	if b.pidfd >= 0 {
		unix.Close(b.pidfd)
	}
	b.procs, b.pidfd = nil, -1
	return err
}

// shutdown kills every daemon of *mp, polls until all are stopped
// (reaped), and closes it. It ignores ctx, to run after Ctrl-C too.
func (b *bench) shutdown(mp **launcher.Manager) error {
	m := *mp
	if m == nil {
		return nil
	}
	*mp = nil
	defer m.Close()
	err := m.ForceStop()
	for deadline := time.Now().Add(60 * time.Second); !allIn(m, launcher.Stopped); {
		if time.Now().After(deadline) {
			return errors.Join(err, fmt.Errorf("daemons not stopped after 60s: %+v", m.Status()))
		}
		select { // read Events too: undelivered events keep Wake firing
		case <-m.Events():
			for drained := false; !drained; {
				select {
				case <-m.Events():
				default:
					drained = true
				}
			}
		case <-m.Wake():
			m.Poll(time.Now())
		case <-time.After(10 * time.Millisecond):
			m.Poll(time.Now())
		}
	}
	return err
}

// warnShim says when launcher's spawns will go through its re-exec shim
// (one more exec each), which it does when this process holds an fd
// without close-on-exec (leaked by the shell) or ignores a signal: the
// numbers are then not those of a normal run.
func warnShim() {
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		fd, _ := strconv.Atoi(e.Name())
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); fd > 2 && err == nil && flags&unix.FD_CLOEXEC == 0 {
			fmt.Fprintf(os.Stderr, "warning: fd %d is inherited without close-on-exec: launcher spawns go through its shim\n", fd)
		}
	}
	// Only ignored signals: the blocked mask of the main thread now is not
	// what a child gets (Go restores the startup mask in it), and os/signal
	// blocks nearly everything on a thread of its own.
	if procField("/proc/self/status", "SigIgn:", 16) != 0 {
		fmt.Fprintln(os.Stderr, "warning: signals are ignored: launcher spawns go through its shim")
	}
}

// procField returns the number after key in a /proc file of key: value lines.
func procField(path, key string, base int) int64 {
	b, _ := os.ReadFile(path)
	for line := range bytes.Lines(b) {
		if f := bytes.Fields(line); len(f) >= 2 && string(f[0]) == key {
			v, _ := strconv.ParseUint(string(f[1]), base, 64)
			return int64(v)
		}
	}
	return 0
}

// pct returns the p-th percentile of ds (the lower middle for p = 50); 0
// for none.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	return s[(len(s)-1)*p/100]
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
