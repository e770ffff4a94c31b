//go:build linux

package launcher

import (
	"fmt"
	"net"
	"os"
	"slices"
	"testing"
	"time"
)

// A systemd-style daemon (READY=1 in a datagram to $NOTIFY_SOCKET) counts
// as running only when it says so, and messages from other pids do not
// count.
func TestReadyNotify(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "sd", "notify")
	spec.Ready = ReadyNotify
	spec.StartSecs = time.Nanosecond // must not matter with readiness on
	flag := t.TempDir() + "/ready"
	d := newDaemon(t, spec)
	if err := d.Start([]byte(flag)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "STATUS from the daemon", func() bool {
		d.Poll(time.Now())
		return d.Status().StatusText == "warming up"
	}, func() string { return d.Status().StatusText })
	// Somebody else (this test, another pid) claims readiness: ignored.
	conn, err := net.Dial("unixgram", spec.PIDDir+"/sd.notify")
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("READY=1"))
	conn.Close()
	d.Poll(time.Now().Add(time.Hour))
	if d.State() != Starting {
		t.Fatalf("state %v after a READY=1 from another pid", d.State())
	}
	os.WriteFile(flag, nil, 0o644)
	evs := waitState(t, d, Running)
	if evs[len(evs)-1].Reason != ReasonReady || d.Status().StatusText != "serving" {
		t.Fatalf("events %v, status %q", evs, d.Status().StatusText)
	}
}

func TestReadyFD(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "s6", "notifyfd")
	spec.Ready = ReadyFD
	spec.StartSecs = time.Hour // must not matter with readiness on
	d := newDaemon(t, spec)
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, Running)
}

// A daemon whose watchdog heartbeats stop is restarted.
func TestWatchdog(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "wd", "notify")
	spec.Ready = ReadyNotify
	spec.WatchdogSec = 200 * time.Millisecond
	flag := t.TempDir() + "/ready"
	os.WriteFile(flag, nil, 0o644)
	os.WriteFile(flag+".beat", nil, 0o644)
	d := newDaemon(t, spec)
	if err := d.Start([]byte(flag)); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, Running)
	first := d.PID()
	// Beating: still the same process after several heartbeats spanning
	// more than the watchdog period.
	var beats []time.Time
	waitFor(t, "heartbeats over more than WatchdogSec", func() bool {
		if evs := d.Poll(time.Now()); len(evs) > 0 {
			t.Fatalf("events while beating: %v", evs)
		}
		d.lock()
		b := d.m.lastBeat
		d.unlock()
		if len(beats) == 0 || !b.Equal(beats[len(beats)-1]) {
			beats = append(beats, b)
		}
		return len(beats) > 2 && beats[len(beats)-1].Sub(beats[0]) > 2*spec.WatchdogSec
	}, func() string { return fmt.Sprint(beats) })
	os.Remove(flag + ".beat")
	var evs []Event
	waitFor(t, "a watchdog restart", func() bool {
		evs = append(evs, d.Poll(time.Now())...)
		return d.State() == Running && d.PID() != first
	}, func() string { return fmt.Sprint(d.State(), evs) })
	if evs[0].Reason != ReasonWatchdog || evs[0].To != Stopping {
		t.Fatalf("events %v, want running → stopping (watchdog) first", evs)
	}
}

// A daemon that says STOPPING=1 is not restarted by the watchdog when its
// heartbeats stop.
func TestWatchdogQuietWhenStopping(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "wdq", "notify")
	spec.Ready = ReadyNotify
	spec.WatchdogSec = 100 * time.Millisecond
	flag := t.TempDir() + "/ready"
	os.WriteFile(flag, nil, 0o644)
	os.WriteFile(flag+".stopping", nil, 0o644)
	d := newDaemon(t, spec)
	if err := d.Start([]byte(flag)); err != nil {
		t.Fatal(err)
	}
	waitState(t, d, Running)
	waitFor(t, "STOPPING=1 seen", func() bool {
		d.Poll(time.Now())
		return d.Status().StatusText == "shutting down"
	}, func() string { return d.Status().StatusText })
	if evs := d.Poll(time.Now().Add(time.Hour)); len(evs) != 0 || d.State() != Running {
		t.Fatalf("watchdog acted on a daemon that is stopping: %v", evs)
	}
}

// Under a Manager, a watchdog stop is a failure like a crash: restarted
// with backoff, counted, and given up on after MaxRestarts.
func TestManagerWatchdogCountsRestarts(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	flag := t.TempDir() + "/ready"
	os.WriteFile(flag, nil, 0o644) // ready at once, and never a WATCHDOG=1 (no .beat)
	if err := m.Add(Spec{Name: "silent", Func: "notify", Data: []byte(flag), Ready: ReadyNotify,
		WatchdogSec: 100 * time.Millisecond, StopTimeout: time.Second, Restart: RestartOnFailure,
		RestartDelay: 10 * time.Millisecond, MaxRestarts: 1}); err != nil {
		t.Fatal(err)
	}
	w := &watcher{t: t, m: m}
	m.Start()
	w.until("gave up", func() bool {
		return slices.ContainsFunc(w.events, func(e Event) bool { return e.Reason == ReasonGaveUp })
	})
	starts, watchdogs := 0, 0
	for _, e := range w.events {
		if e.To == Starting {
			starts++
		}
		if e.To == Stopping && e.Reason == ReasonWatchdog {
			watchdogs++
		}
	}
	if starts != 2 || watchdogs != 2 {
		t.Fatalf("%d starts and %d watchdog stops, want 2 and 2: %v", starts, watchdogs, w.events)
	}
	if st := m.Status()[0]; !st.GaveUp || st.Restarts != 1 {
		t.Fatalf("status %+v, want gave up after 1 restart", st)
	}
}
