//go:build linux

package launcher

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Benchmarks of the hot paths against the floors in DESIGN.md §10, measured
// in the same run:
//
//	go test -run '^$' -bench 'Poll|StartStop|SpawnFloor|ExitToEvent' -benchmem -count 5 .
//
// Every daemon here is a Command daemon (`sleep 600`) confirmed at its first
// Poll (StartSecs < 0); every one is killed, reaped and closed at the end,
// so TestMain's leak check (children, goroutines, fds) holds.

// benchDeadline bounds every wait in this file, so that a broken daemon
// fails the benchmark instead of hanging it.
const benchDeadline = 30 * time.Second

// benchSpec is an idle `sleep 600` daemon with its files under dir.
func benchSpec(dir, name string) Spec {
	return Spec{Name: name, Command: []string{"sleep", "600"}, PIDDir: dir + "/run", LogDir: dir + "/log",
		StartSecs: -1, StopTimeout: 5 * time.Second}
}

// pollAllUntil polls every daemon of ds until all are in state want. With
// spin it busy-polls (yielding the CPU between rounds); otherwise it sleeps
// a little between rounds. The events are dropped.
func pollAllUntil(tb testing.TB, ds []*Daemon, want State, spin bool) {
	tb.Helper()
	deadline := time.Now().Add(benchDeadline)
	for {
		now := time.Now()
		done := true
		for _, d := range ds {
			if d == nil {
				continue
			}
			d.Poll(now)
			if d.State() != want {
				done = false
			}
		}
		if done {
			return
		}
		if now.After(deadline) {
			for _, d := range ds {
				if d != nil && d.State() != want {
					tb.Fatalf("timed out waiting for %s %v: state %v", d.Name(), want, d.State())
				}
			}
		}
		if spin {
			runtime.Gosched()
		} else {
			time.Sleep(200 * time.Microsecond)
		}
	}
}

// stopAll kills every daemon of ds that is not stopped, polls them all
// until they are stopped (so every process is reaped), and closes them.
func stopAll(tb testing.TB, ds []*Daemon) {
	tb.Helper()
	defer func() {
		for _, d := range ds {
			if d != nil {
				d.Close()
			}
		}
	}()
	for _, d := range ds {
		if d != nil && d.State() != Stopped {
			d.ForceStop()
		}
	}
	pollAllUntil(tb, ds, Stopped, false)
}

// startIdleDaemons starts n `sleep 600` daemons under one temp dir and
// polls them until all are running. They are stopped and closed when tb's
// test ends.
func startIdleDaemons(tb testing.TB, dir string, n int) []*Daemon {
	tb.Helper()
	ds := make([]*Daemon, n)
	tb.Cleanup(func() { stopAll(tb, ds) })
	for i := range ds {
		d, err := New(benchSpec(dir, fmt.Sprintf("idle%d", i)))
		if err != nil {
			tb.Fatal(err)
		}
		ds[i] = d
		if err := d.Start(nil); err != nil {
			tb.Fatal(err)
		}
	}
	pollAllUntil(tb, ds, Running, false)
	return ds
}

// spinUntil busy-polls d until it is in state want; it fails at once if d
// reaches a state it cannot leave on its own towards want.
func spinUntil(b *testing.B, d *Daemon, want State) {
	deadline := time.Now().Add(benchDeadline)
	for {
		now := time.Now()
		evs := d.Poll(now)
		st := d.State()
		if st == want {
			return
		}
		if want == Running && (st == Zombie || st == Stopped) || now.After(deadline) {
			b.Fatalf("waiting for %s %v: state %v, events %v", d.Name(), want, st, evs)
		}
		runtime.Gosched()
	}
}

// BenchmarkPoll measures Poll of idle (running) daemons: one op polls every
// one of N daemons, so ns/op is for all N and ns/poll for one. An idle Poll
// must return no events and allocate nothing.
func BenchmarkPoll(b *testing.B) {
	// Lone Daemons, an inotify instance each: no more than the user's
	// limit allows (BenchmarkManagerPollIdle goes to 10 000).
	for _, n := range []int{1, 20, 100} {
		b.Run(fmt.Sprintf("daemons=%d", n), func(b *testing.B) {
			ds := startIdleDaemons(b, b.TempDir(), n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				now := time.Now()
				for _, d := range ds {
					if evs := d.Poll(now); evs != nil {
						b.Fatalf("idle Poll of %s returned events: %v", d.Name(), evs)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/poll")
		})
	}
}

// TestIdlePollAllocs: polling a running daemon that has nothing to report
// allocates nothing (Poll's documented promise: nil, with no allocation).
func TestIdlePollAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 processes")
	}
	// 20 lone Daemons: each has an inotify instance of its own, and the
	// user's limit (128 by default) is shared with every other test and
	// controller process running now.
	const n = 20
	ds := startIdleDaemons(t, t.TempDir(), n)
	var events int
	allocs := testing.AllocsPerRun(100, func() {
		now := time.Now()
		for _, d := range ds {
			if evs := d.Poll(now); evs != nil {
				events += len(evs)
			}
		}
	})
	if events > 0 {
		t.Fatalf("idle Polls returned %d events", events)
	}
	if allocs > 0 {
		if raceEnabled {
			t.Skipf("%v allocations per %d idle Polls under -race (counts are unreliable there)", allocs, n)
		}
		t.Errorf("%v allocations per %d idle Polls, want 0", allocs, n)
	}
}

// shimNoted makes BenchmarkStartStop say once per run that its spawns take
// the re-exec shim (a test run whose parent leaked fds without
// close-on-exec, say), which costs a second exec.
var shimNoted atomic.Bool

// BenchmarkStartStop measures one start/stop cycle of one daemon, busy
// polling: Start → Poll until running → Stop → Poll until stopped. Compare
// it with BenchmarkSpawnFloorSleepKill.
func BenchmarkStartStop(b *testing.B) {
	d, err := New(benchSpec(b.TempDir(), "startstop"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stopAll(b, []*Daemon{d}) })
	if (inheritedSignals() || strayFDs()) && !shimNoted.Swap(true) {
		b.Logf("spawns go through the re-exec shim (ignored/blocked signals %v, stray fds %v)", inheritedSignals(), strayFDs())
	}
	b.ReportAllocs()
	b.ResetTimer()
	// Where the time goes: the Start call, Start's return until Poll has
	// confirmed it, the Stop call, and Stop's return until Poll says
	// stopped.
	var start, confirm, stop, gone time.Duration
	for b.Loop() {
		t0 := time.Now()
		if err := d.Start(nil); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		spinUntil(b, d, Running)
		t2 := time.Now()
		if err := d.Stop(); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		spinUntil(b, d, Stopped)
		t4 := time.Now()
		start, confirm, stop, gone = start+t1.Sub(t0), confirm+t2.Sub(t1), stop+t3.Sub(t2), gone+t4.Sub(t3)
	}
	for _, m := range []struct {
		d    time.Duration
		unit string
	}{{start, "ns/start"}, {confirm, "ns/confirm"}, {stop, "ns/stop"}, {gone, "ns/stop-to-stopped"}} {
		b.ReportMetric(float64(m.d.Nanoseconds())/float64(b.N), m.unit)
	}
}

// floorAttr is the spawn the floors make: setsid, stdin /dev/null, stdout
// and stderr to a log opened O_APPEND (as a daemon's), the environment
// inherited.
func floorAttr(b *testing.B) *os.ProcAttr {
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { devnull.Close() })
	logf, err := os.OpenFile(b.TempDir()+"/floor.log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { logf.Close() })
	return &os.ProcAttr{Files: []*os.File{devnull, logf, logf}, Sys: &syscall.SysProcAttr{Setsid: true}}
}

// BenchmarkSpawnFloor is the floor of a spawn: os.StartProcess of /bin/true
// (setsid, output to an O_APPEND file), then Wait.
func BenchmarkSpawnFloor(b *testing.B) {
	attr := floorAttr(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := os.StartProcess("/bin/true", []string{"true"}, attr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpawnFloorSleepKill is the rough floor of a start/stop cycle:
// os.StartProcess of `sleep 600` (setsid), then Kill and Wait.
func BenchmarkSpawnFloorSleepKill(b *testing.B) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		b.Skip(err)
	}
	attr := floorAttr(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := os.StartProcess(sleep, []string{"sleep", "600"}, attr)
		if err != nil {
			b.Fatal(err)
		}
		kerr := p.Kill()
		if _, err := p.Wait(); err != nil {
			b.Fatal(err)
		}
		if kerr != nil {
			b.Fatal(kerr)
		}
	}
}

// BenchmarkExitToEvent measures how soon a busy-polling caller learns of an
// exit: from the return of the kill (ForceStop) until Poll returns the
// daemon's exit event, as ns/exit-to-event. ns/op is the whole cycle
// (Start, confirm, ForceStop, exit, gone). "floor" is the same with a bare
// pidfd: pidfd_send_signal(SIGKILL), then waitid(P_PIDFD, WNOHANG) until it
// reaps.
func BenchmarkExitToEvent(b *testing.B) {
	b.Run("launcher", func(b *testing.B) {
		d, err := New(benchSpec(b.TempDir(), "exit"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { stopAll(b, []*Daemon{d}) })
		var total time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := d.Start(nil); err != nil {
				b.Fatal(err)
			}
			spinUntil(b, d, Running)
			if err := d.ForceStop(); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			for seen := false; !seen; {
				now := time.Now()
				for _, ev := range d.Poll(now) {
					if ev.To == Zombie || ev.Exit != nil {
						seen = true
					}
				}
				if now.Sub(t0) > benchDeadline {
					b.Fatalf("no exit event; state %v", d.State())
				}
				if !seen {
					runtime.Gosched()
				}
			}
			total += time.Since(t0)
			spinUntil(b, d, Stopped)
		}
		b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/exit-to-event")
	})
	b.Run("floor", func(b *testing.B) {
		sleep, err := exec.LookPath("sleep")
		if err != nil {
			b.Skip(err)
		}
		devnull, err := os.Open(os.DevNull)
		if err != nil {
			b.Fatal(err)
		}
		defer devnull.Close()
		fd := devnull.Fd()
		var total time.Duration
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			pidfd := -1
			_, err := syscall.ForkExec(sleep, []string{"sleep", "600"}, &syscall.ProcAttr{
				Env: os.Environ(), Files: []uintptr{fd, fd, fd},
				Sys: &syscall.SysProcAttr{Setsid: true, PidFD: &pidfd},
			})
			if err != nil {
				b.Fatal(err)
			}
			if err := unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0); err != nil {
				unix.Close(pidfd)
				b.Fatal(err)
			}
			t0 := time.Now()
			for {
				var info unix.Siginfo
				err := unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED|unix.WNOHANG, nil)
				if err != nil && err != unix.EINTR {
					unix.Close(pidfd)
					b.Fatal(err)
				}
				if err == nil && siginfoChild(&info).pid != 0 {
					break
				}
				runtime.Gosched()
			}
			total += time.Since(t0)
			unix.Close(pidfd)
		}
		b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/exit-to-event")
	})
}
