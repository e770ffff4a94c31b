//go:build linux

package launcher

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Benchmarks of a Manager driven the way a caller drives it (select on Wake,
// Poll, read Events), against the floors of DESIGN.md §10 measured in the
// same run:
//
//	go test -run '^$' -bench 'Manager|Spawn100' -benchmem -count 5 .
//	LAUNCHER_BENCH_IDLE=1 go test -run '^$' -bench ManagerIdle -count 1 .
//
// Run them from a shell that leaks no fd without close-on-exec (or
// `exec 10>&-` it first): a stray fd sends every spawn through the re-exec
// shim, which is not what a normal program pays.
//
// Every daemon is `sleep 600` (benchSpec); every one is killed and reaped
// and every Manager closed when its benchmark ends, so TestMain's leak
// check holds.

// mgrDriver is the caller's select loop for benchmarks. (The watcher of
// manager_test.go wants a *testing.T and keeps every event; here events are
// looked at once and dropped, and the time they arrive is what counts.)
type mgrDriver struct {
	m     *Manager
	wakes int // Wake fired and Poll ran
}

// until runs the loop until match returns true for an event, which it sees
// the moment the event is received. It fails after benchDeadline.
func (dr *mgrDriver) until(tb testing.TB, what string, match func(Event) bool) {
	tb.Helper()
	timeout := time.NewTimer(benchDeadline)
	defer timeout.Stop()
	for {
		select {
		case ev := <-dr.m.Events():
			if match(ev) {
				return
			}
		case <-dr.m.Wake():
			dr.wakes++
			dr.m.Poll(time.Now())
		case <-timeout.C:
			tb.Fatalf("timed out waiting for %s; status %+v", what, dr.m.Status())
		}
	}
}

// shutdownManager kills every daemon of m, drives it until all are stopped
// (so every process is reaped) and closes it. It is safe on a Manager that
// is half set up, or already shut down.
func shutdownManager(tb testing.TB, m *Manager) {
	tb.Helper()
	defer m.Close()
	if err := m.ForceStop(); err != nil {
		tb.Errorf("force stop: %v", err)
	}
	dr := &mgrDriver{m: m}
	stopped := func() bool {
		for _, d := range m.Daemons() {
			if d.State() != Stopped {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(benchDeadline)
	for !stopped() {
		// Stopped can come without an event being left to read (all read
		// already): poll at least every 10ms as well.
		select {
		case <-m.Events():
		case <-m.Wake():
			dr.wakes++
			m.Poll(time.Now())
		case <-time.After(10 * time.Millisecond):
			m.Poll(time.Now())
		}
		if time.Now().After(deadline) {
			tb.Errorf("daemons not stopped after %v: %+v", benchDeadline, m.Status())
			return
		}
	}
}

// percentiles reports the median and 90th percentile of ds as
// ns/<name>-p50 and ns/<name>-p90.
func percentiles(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	b.ReportMetric(float64(s[(len(s)-1)/2].Nanoseconds()), "ns/"+name+"-p50")
	b.ReportMetric(float64(s[(len(s)-1)*9/10].Nanoseconds()), "ns/"+name+"-p90")
}

// BenchmarkManagerKillToReplacement: one RestartAlways daemon, SIGKILLed
// each op; the caller's loop (Wake → Poll, Events) runs until the
// replacement's stopped → starting event arrives. That event is made right
// after ForkExec returned, so the replacement has been exec'd by then.
// kill-to-exec is kill → that event received; exit-to-event is kill → the
// crash event (running → zombie) received. ns/op also covers waiting for
// the replacement to be confirmed running, outside both metrics.
//
// Backoff is taken out: RestartDelay and MaxRestartDelay 1ns (else the
// delay doubles on every restart, ResetAfter never passing between kills),
// Jitter 0 (×0.8, so the delay rounds to 0 and the restart happens in the
// Poll that sees the exit, not at a later timer wake-up), MaxRestarts -1
// (else the Manager gives up after 5 restarts in 60s).
//
// Run beside each other: kill-mode=group (the default) and kill-mode=cgroup
// (as root, with a cgroup v2: the daemon's cgroup made, entered with
// CLONE_INTO_CGROUP and found empty at each restart).
func BenchmarkManagerKillToReplacement(b *testing.B) {
	for _, mode := range []KillMode{KillGroup, KillCgroup} {
		b.Run("kill-mode="+mode.String(), func(b *testing.B) { benchKillToReplacement(b, mode) })
	}
}

func benchKillToReplacement(b *testing.B, mode KillMode) {
	dir := b.TempDir()
	m := NewManager(Options{PIDDir: dir + "/run", LogDir: dir + "/log", Jitter: func() float64 { return 0 }})
	b.Cleanup(func() { shutdownManager(b, m) })
	spec := benchSpec(dir, "victim")
	if mode == KillCgroup {
		spec.KillMode, spec.CgroupBase = KillCgroup, benchCgroupBase(b)
	}
	spec.Restart, spec.RestartDelay, spec.MaxRestartDelay, spec.MaxRestarts = RestartAlways, time.Nanosecond, time.Nanosecond, -1
	if err := m.Add(spec); err != nil {
		b.Fatal(err)
	}
	dr := &mgrDriver{m: m}
	if err := m.Start(); err != nil {
		b.Fatal(err)
	}
	dr.until(b, "victim running", func(ev Event) bool { return ev.To == Running })
	d := daemonOf(m, "victim")
	var toExec, toEvent []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if err := d.Signal(syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		var exited, execd time.Duration
		dr.until(b, "replacement exec'd", func(ev Event) bool {
			switch {
			case ev.Reason == ReasonGaveUp || ev.Reason == ReasonStartFailed:
				b.Fatalf("unexpected event %v", ev)
			case ev.From == Running && ev.To == Zombie:
				exited = time.Since(t0)
			case ev.From == Stopped && ev.To == Starting:
				execd = time.Since(t0)
				return true
			}
			return false
		})
		if exited == 0 {
			b.Fatal("replacement started before the crash event arrived")
		}
		toExec, toEvent = append(toExec, execd), append(toEvent, exited)
		dr.until(b, "replacement running", func(ev Event) bool { return ev.To == Running })
	}
	percentiles(b, "kill-to-exec", toExec)
	percentiles(b, "exit-to-event", toEvent)
}

// floorSpawnPidfd starts `sleep 600` as the floors do (floorAttr: setsid,
// output to an O_APPEND log) and returns it with a pidfd of our own. The
// os.Process keeps a duplicate, released with Release.
func floorSpawnPidfd(b *testing.B, sleep string, attr *os.ProcAttr) (*os.Process, int) {
	pidfd := -1
	a := *attr
	a.Sys = &syscall.SysProcAttr{Setsid: true, PidFD: &pidfd}
	p, err := os.StartProcess(sleep, []string{"sleep", "600"}, &a)
	if err != nil {
		b.Fatal(err)
	}
	return p, pidfd
}

// floorKillReap kills the process behind pidfd, waits until the pidfd is
// readable (the exit), reaps it and closes the pidfd.
func floorKillReap(b *testing.B, pidfd int) {
	if err := unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0); err != nil {
		b.Fatal(err)
	}
	floorWaitReap(b, pidfd)
}

func floorWaitReap(b *testing.B, pidfd int) {
	defer unix.Close(pidfd)
	pfd := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(pfd, int(benchDeadline/time.Millisecond))
		if err == nil {
			break
		}
		if err != unix.EINTR {
			b.Fatal(err)
		}
	}
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED, nil)
		if err == nil {
			return
		}
		if err != unix.EINTR {
			b.Fatal(err)
		}
	}
}

// BenchmarkManagerKillFloor is BenchmarkManagerKillToReplacement without
// launcher: pidfd_send_signal(SIGKILL), poll the pidfd until readable,
// waitid(P_PIDFD) to reap (exit-to-event), os.StartProcess a replacement
// (kill-to-exec).
func BenchmarkManagerKillFloor(b *testing.B) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		b.Skip(err)
	}
	attr := floorAttr(b)
	p, pidfd := floorSpawnPidfd(b, sleep, attr)
	b.Cleanup(func() {
		floorKillReap(b, pidfd)
		p.Release()
	})
	var toExec, toEvent []time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		floorKillReap(b, pidfd)
		exit := time.Since(t0)
		p.Release()
		p, pidfd = floorSpawnPidfd(b, sleep, attr)
		toExec, toEvent = append(toExec, time.Since(t0)), append(toEvent, exit)
	}
	percentiles(b, "kill-to-exec", toExec)
	percentiles(b, "exit-to-event", toEvent)
}

// BenchmarkManagerStart100: each op, a fresh Manager in a fresh dir gets
// 100 daemons (timer stopped), then Start() and the caller's loop until
// all 100 starting events have arrived, i.e. all are exec'd (ns/op). The
// kill, reap and Close that follow are not timed. Compare with
// BenchmarkSpawn100Floor.
func BenchmarkManagerStart100(b *testing.B) {
	const n = 100
	base := b.TempDir()
	var m *Manager
	b.Cleanup(func() {
		if m != nil {
			shutdownManager(b, m)
		}
	})
	var add time.Duration
	for b.Loop() {
		b.StopTimer()
		dir, err := os.MkdirTemp(base, "op")
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		m = NewManager(Options{})
		for i := range n {
			if err := m.Add(benchSpec(dir, "d"+strconv.Itoa(i))); err != nil {
				b.Fatal(err)
			}
		}
		add += time.Since(t0)
		dr := &mgrDriver{m: m}
		b.StartTimer()

		if err := m.Start(); err != nil {
			b.Fatal(err)
		}
		started := 0
		dr.until(b, "all starting", func(ev Event) bool {
			started += boolInt(ev.From == Stopped && ev.To == Starting)
			return started == n
		})

		b.StopTimer()
		shutdownManager(b, m)
		m = nil
		os.RemoveAll(dir)
		b.StartTimer()
	}
	b.ReportMetric(float64(add.Nanoseconds())/float64(b.N), "ns/add100")
}

// BenchmarkSpawn100Floor is the floor of BenchmarkManagerStart100: 100
// os.StartProcess of `sleep 600` back to back (floorAttr: setsid, output
// to an O_APPEND log). Killing and reaping them is not timed.
func BenchmarkSpawn100Floor(b *testing.B) {
	const n = 100
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		b.Skip(err)
	}
	attr := floorAttr(b)
	procs := make([]*os.Process, 0, n)
	reap := func() {
		for _, p := range procs {
			p.Kill()
		}
		for _, p := range procs {
			if _, err := p.Wait(); err != nil {
				b.Error(err)
			}
		}
		procs = procs[:0]
	}
	b.Cleanup(reap)
	for b.Loop() {
		for range n {
			p, err := os.StartProcess(sleep, []string{"sleep", "600"}, attr)
			if err != nil {
				b.Fatal(err)
			}
			procs = append(procs, p)
		}
		b.StopTimer()
		reap()
		b.StartTimer()
	}
}

// vmRSS returns this process's resident set (VmRSS) in bytes.
func vmRSS() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range bytes.Lines(b) {
		if f := bytes.Fields(line); len(f) == 3 && string(f[0]) == "VmRSS:" { // VmRSS: 1234 kB
			kb, _ := strconv.ParseInt(string(f[1]), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkManagerIdle: 1000 running `sleep 600` daemons under one
// Manager, watched by the caller's loop for a fixed 10s window (b.N is
// ignored): the controller's CPU time (getrusage), how often Wake fired,
// and its resident memory. The target is 0 CPU and 0 wake-ups. It takes
// about 15s and 1000 processes, so it runs only with LAUNCHER_BENCH_IDLE=1.
func BenchmarkManagerIdle(b *testing.B) {
	if os.Getenv("LAUNCHER_BENCH_IDLE") != "1" {
		b.Skip("set LAUNCHER_BENCH_IDLE=1 to run (about 15s, 1000 processes)")
	}
	const n, window = 1000, 10 * time.Second
	dir := b.TempDir()
	m := NewManager(Options{})
	b.Cleanup(func() { shutdownManager(b, m) })
	rss0 := vmRSS()
	for i := range n {
		if err := m.Add(benchSpec(dir, "idle"+strconv.Itoa(i))); err != nil {
			b.Fatal(err)
		}
	}
	dr := &mgrDriver{m: m}
	t0 := time.Now()
	if err := m.Start(); err != nil {
		b.Fatal(err)
	}
	running := 0
	dr.until(b, "all running", func(ev Event) bool {
		running += boolInt(ev.To == Running)
		return running == n
	})
	b.Logf("%d daemons started and confirmed in %v (%d wake-ups)", n, time.Since(t0).Round(time.Millisecond), dr.wakes)
	// A wake-up made before everything settled is not idle work.
	select {
	case <-m.Wake():
		m.Poll(time.Now())
	default:
	}

	b.ResetTimer()
	wakes, events := 0, 0
	cpu0 := cpuTime()
	end := time.NewTimer(window)
	for idle := true; idle; {
		select {
		case <-m.Wake():
			wakes++
			m.Poll(time.Now())
		case <-m.Events():
			events++
		case <-end.C:
			idle = false
		}
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	if events > 0 {
		b.Errorf("%d events while idle", events)
	}
	scale := float64(10*time.Second) / float64(window)
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)*scale, "cpu-ms/10s")
	b.ReportMetric(float64(wakes)*scale, "wakeups/10s")
	rss := vmRSS()
	b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	b.Logf("RSS %.1f MiB, %.1f MiB before the Manager: %.1f KiB per daemon",
		float64(rss)/(1<<20), float64(rss0)/(1<<20), float64(rss-rss0)/1024/n)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// benchCgroupBase makes a cgroup base for a benchmark under a writable
// cgroup2 root, removed at the end; it skips without root or cgroup v2.
func benchCgroupBase(b *testing.B) string {
	if os.Geteuid() != 0 {
		b.Skip("cgroup mode needs root")
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, mnt := range cgroup2Mounts(mi) {
		if mnt.root != "/" || unix.Access(mnt.dir, unix.W_OK) != nil {
			continue
		}
		base := fmt.Sprintf("%s/launcher-bench-%d", mnt.dir, os.Getpid())
		if err := os.Mkdir(base, 0o755); err != nil && !os.IsExist(err) {
			b.Skip(err)
		}
		b.Cleanup(func() { removeCgroupTree(base) })
		return base
	}
	b.Skip("no writable cgroup2 root")
	return ""
}
