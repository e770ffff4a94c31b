//go:build linux

// Command launcher-bench measures a launcher Manager against the floors of
// DESIGN.md §10 (the same work done with bare syscalls), side by side in
// one process run, so that both see the same machine load:
//
//	go run ./cmd/launcher-bench [-n 100] [-trials 50]
//
// Every daemon is `sleep 600`. Everything it starts, launcher's daemons and
// the floor's processes alike, is killed and reaped before it exits, also
// on an error or Ctrl-C.
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
	"slices"
	"strconv"
	"syscall"
	"text/tabwriter"
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
	flag.IntVar(&b.trials, "trials", 50, "number of kill -9 and stop trials")
	flag.Parse()
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
	dir       string      // pid files and logs
	sleep     string      // the path of sleep, looked up once as a supervisor would
	attr      os.ProcAttr // the floor's spawn, as launcher's: setsid, stdin /dev/null, output to an O_APPEND log
	m         *launcher.Manager
	procs     []*os.Process // the floor's live processes
	pidfd     int           // our own pidfd on procs[0] in the kill floor, else -1

	start, kill, exit, stop pair // launcher's and the floor's times
	wakes                   int
	cpu                     time.Duration
	rss0, rss               int64 // before any Manager, and with n daemons
}

type pair struct{ l, f []time.Duration }

func (p *pair) add(l, f time.Duration) { p.l, p.f = append(p.l, l), append(p.f, f) }

func (b *bench) run() (err error) {
	if b.n < 1 || b.trials < 1 {
		return errors.New("-n and -trials must be at least 1")
	}
	b.rss0 = vmRSS()
	if b.dir, err = os.MkdirTemp("", "launcher-bench-"); err != nil {
		return err
	}
	// Whichever way run leaves, kill and reap what it started.
	defer func() { err = errors.Join(err, b.reapFloor(), b.shutdown(), os.RemoveAll(b.dir)) }()
	if b.sleep, err = exec.LookPath("sleep"); err != nil {
		return err
	}
	devnull, err1 := os.Open(os.DevNull)
	logf, err2 := os.OpenFile(filepath.Join(b.dir, "floor.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	defer devnull.Close()
	defer logf.Close()
	b.attr = os.ProcAttr{Files: []*os.File{devnull, logf, logf}, Sys: &syscall.SysProcAttr{Setsid: true}}
	warnShim()
	for _, step := range []func() error{b.measureStart, b.measureKillStop, b.measureIdle} {
		if err := step(); err != nil {
			return err
		}
	}
	b.print()
	return nil
}

// measureStart: (1) start n until all are exec'd, three rounds of floor
// then launcher (one sample is noisy). The last round's Manager stays, its
// daemons running, for the other measures.
func (b *bench) measureStart() error {
	for round := range 3 {
		if err := b.shutdown(); err != nil {
			return err
		}
		t0 := time.Now()
		for range b.n {
			p, err := os.StartProcess(b.sleep, []string{"sleep", "600"}, &b.attr)
			if err != nil {
				return err
			}
			b.procs = append(b.procs, p)
		}
		floor := time.Since(t0)
		if err := b.reapFloor(); err != nil {
			return err
		}

		// Backoff is taken out, so that a kill -9 is answered at once:
		// RestartDelay and MaxRestartDelay 1ns (else the delay doubles with
		// each restart), Jitter 0 (the delay rounds to 0, so the restart is
		// made in the Poll that sees the exit, not at a later timer
		// wake-up), MaxRestarts -1 (else it gives up after 5 in 60s).
		dir := filepath.Join(b.dir, strconv.Itoa(round))
		b.m = launcher.NewManager(launcher.Options{PIDDir: dir + "/run", LogDir: dir + "/log", Jitter: func() float64 { return 0 }})
		var err error
		for i := 0; i < b.n && err == nil; i++ {
			err = b.m.Add(launcher.Spec{Name: "d" + strconv.Itoa(i), Command: []string{"sleep", "600"}, StartSecs: -1,
				Restart: launcher.RestartAlways, RestartDelay: time.Nanosecond, MaxRestartDelay: time.Nanosecond, MaxRestarts: -1})
		}
		t0, started := time.Now(), 0
		if err == nil {
			err = b.m.Start()
		}
		if err == nil { // the starting event is made right after the daemon's exec
			err = b.loop(func(ev launcher.Event) bool { started += boolInt(ev.To == launcher.Starting); return started == b.n })
		}
		if err != nil {
			return err
		}
		b.start.add(time.Since(t0), floor)
	}
	running := 0
	return b.loop(func(ev launcher.Event) bool { running += boolInt(ev.To == launcher.Running); return running == b.n })
}

// measureKillStop: (2) kill -9 → replacement exec'd, and (3) Stop → exited,
// of daemon d0 among n. Each trial is followed by the floor's, so that a
// change of load hits both alike.
func (b *bench) measureKillStop() error {
	err := b.floorSpawn()
	for i := 0; i < 2*b.trials && err == nil; i++ {
		sig := syscall.SIGKILL
		if i >= b.trials {
			sig = syscall.SIGTERM
		}
		var lExit, lExec, fExit, fExec time.Duration
		if lExit, lExec, err = b.trial(sig); err == nil {
			fExit, fExec, err = b.floorTrial(sig)
		}
		if sig == syscall.SIGKILL {
			b.kill.add(lExec, fExec)
			b.exit.add(lExit, fExit)
		} else {
			b.stop.add(lExit, fExit)
		}
	}
	return err
}

// trial ends d0 and runs the caller's loop until it runs again. SIGKILL
// is a crash: the Manager restarts it, and toExec is when the
// replacement's starting event (made right after its exec) arrived.
// SIGTERM is a Stop, after which d0 is started again (not timed). toExit
// is when the exit event (→ zombie) arrived.
func (b *bench) trial(sig syscall.Signal) (toExit, toExec time.Duration, err error) {
	t0 := time.Now()
	if sig == syscall.SIGTERM {
		err = b.m.Stop("d0")
	} else {
		d0, _ := b.m.Daemon("d0")
		err = d0.Signal(sig)
	}
	if err == nil {
		err = b.loop(func(ev launcher.Event) bool {
			switch {
			case ev.Daemon != "d0":
			case ev.To == launcher.Zombie:
				toExit = time.Since(t0)
			case ev.From == launcher.Stopped && ev.To == launcher.Starting:
				toExec = time.Since(t0)
			case ev.To == launcher.Stopped && sig == syscall.SIGTERM, ev.To == launcher.Running:
				return true
			}
			return false
		})
	}
	if err == nil && sig == syscall.SIGTERM {
		if err = b.m.Start("d0"); err == nil {
			err = b.loop(func(ev launcher.Event) bool { return ev.Daemon == "d0" && ev.To == launcher.Running })
		}
	}
	return toExit, toExec, err
}

// measureIdle: (4) the Manager's wake-ups and this process's CPU time over
// 5s with n running daemons and nothing happening; (5) its memory then.
func (b *bench) measureIdle() error {
	select { // a wake-up left from the trials is not idle work
	case <-b.m.Wake():
		b.m.Poll(time.Now())
	default:
	}
	cpu0, end := cpuTime(), time.After(5*time.Second)
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
			b.cpu, b.rss = cpuTime()-cpu0, vmRSS()
			return nil
		}
	}
}

func (b *bench) print() {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "what\tlauncher median\tfloor median\tratio\n")
	row := func(what string, l, f time.Duration) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f×\n", what, ms(l), ms(f), float64(l)/float64(f))
	}
	row(fmt.Sprintf("start %d until all exec'd", b.n), pct(b.start.l, 50), pct(b.start.f, 50))
	row("kill -9 → replacement exec'd", pct(b.kill.l, 50), pct(b.kill.f, 50))
	row("  same, p90", pct(b.kill.l, 90), pct(b.kill.f, 90))
	row("kill -9 → exit event received", pct(b.exit.l, 50), pct(b.exit.f, 50))
	row("stop → exited (SIGTERM)", pct(b.stop.l, 50), pct(b.stop.f, 50))
	fmt.Fprintf(tw, "idle %d daemons, 5s: wake-ups, CPU\t%d, %s\t0, 0 ms\t-\n", b.n, b.wakes, ms(b.cpu))
	fmt.Fprintf(tw, "controller RSS (floor: before any Manager)\t%.1f MiB\t%.1f MiB\t-\n", mib(b.rss), mib(b.rss0))
	tw.Flush()
	fmt.Printf("(%d trials; DESIGN.md §10 targets: kill → exec ≤ 1.3× floor, start ≤ 1.2× floor, stop ≤ 1.8 ms, idle 0, RSS ≤ 8 MiB)\n", b.trials)
}

// loop is a caller's select loop: Poll when Wake fires, hand every event
// to match until it returns true. It stops when ctx is done, and gives up
// after 30s so that a broken Manager does not hang the run.
func (b *bench) loop(match func(launcher.Event) bool) error {
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return b.ctx.Err()
		case <-timeout.C:
			return errors.New("timed out waiting for an event")
		case <-b.m.Wake():
			b.m.Poll(time.Now())
		case ev := <-b.m.Events():
			if ev.Reason == launcher.ReasonGaveUp || ev.Reason == launcher.ReasonStartFailed || ev.Err != nil {
				return fmt.Errorf("unexpected event: %v", ev)
			}
			if match(ev) {
				return nil
			}
		}
	}
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

// floorTrial is a supervisor without launcher: signal through the pidfd,
// wait until it is readable, reap with waitid (toExit), start a
// replacement (toExec).
func (b *bench) floorTrial(sig syscall.Signal) (toExit, toExec time.Duration, err error) {
	t0 := time.Now()
	if err := unix.PidfdSendSignal(b.pidfd, sig, nil, 0); err != nil {
		return 0, 0, err
	}
	pfd := []unix.PollFd{{Fd: int32(b.pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(pfd, 10_000)
	for errors.Is(err, unix.EINTR) {
		n, err = unix.Poll(pfd, 10_000)
	}
	var info unix.Siginfo
	if n != 1 || unix.Waitid(unix.P_PIDFD, b.pidfd, &info, unix.WEXITED, nil) != nil {
		return 0, 0, fmt.Errorf("floor: no exit after %v: %v", sig, err)
	}
	toExit = time.Since(t0)
	unix.Close(b.pidfd)
	b.procs[0].Release()
	b.procs, b.pidfd = nil, -1
	err = b.floorSpawn()
	return toExit, time.Since(t0), err
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

// shutdown kills every daemon of the Manager, polls until all are stopped
// (reaped), and closes it. It ignores ctx, to run after Ctrl-C too.
func (b *bench) shutdown() error {
	m := b.m
	if m == nil {
		return nil
	}
	b.m = nil
	defer m.Close()
	err := m.ForceStop()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if !slices.ContainsFunc(m.Daemons(), func(d *launcher.Daemon) bool { return d.State() != launcher.Stopped }) {
			return err
		}
		if time.Now().After(deadline) {
			return errors.Join(err, fmt.Errorf("daemons not stopped after 30s: %+v", m.Status()))
		}
		select { // read Events too: undelivered events keep Wake firing
		case <-m.Events():
		case <-m.Wake():
			m.Poll(time.Now())
		case <-time.After(10 * time.Millisecond):
			m.Poll(time.Now())
		}
	}
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
	if procStatus("SigIgn:", 16) != 0 {
		fmt.Fprintln(os.Stderr, "warning: signals are ignored: launcher spawns go through its shim")
	}
}

// procStatus returns the number after key in /proc/self/status.
func procStatus(key string, base int) int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range bytes.Lines(b) {
		if f := bytes.Fields(line); len(f) >= 2 && string(f[0]) == key {
			v, _ := strconv.ParseUint(string(f[1]), base, 64)
			return int64(v)
		}
	}
	return 0
}

func vmRSS() int64 { return procStatus("VmRSS:", 10) << 10 } // in kB there

func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pct returns the p-th percentile of ds (the lower middle for p = 50).
func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Sorted(slices.Values(ds))
	return s[(len(s)-1)*p/100]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
func mib(b int64) float64       { return float64(b) / (1 << 20) }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
