package launcher

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartStop(t *testing.T) {
	t.Parallel()
	d := newDaemon(t, testSpec(t, "web", "echo"))
	if err := d.Start([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	pid := d.PID()
	if pid <= 1 || !d.IsRunning() {
		t.Fatalf("after Start: pid %d, running %v", pid, d.IsRunning())
	}
	evs := waitState(t, d, Running)
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	evs = append(evs, waitState(t, d, Stopped)...)
	var got []string
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Errorf("event %d has Seq %d", i, e.Seq)
		}
		got = append(got, e.From.String()+">"+e.To.String()+":"+e.Reason.String())
	}
	want := "stopped>starting:requested starting>running:ready running>stopping:requested stopping>zombie:requested zombie>stopped:requested"
	if strings.Join(got, " ") != want {
		t.Errorf("events:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	if pidAlive(pid) {
		t.Errorf("pid %d still alive", pid)
	}
	log, _ := d.ReadLog()
	_ = log
}

func TestStartCommandNotFound(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "nope", "")
	spec.Func, spec.Command = "", []string{"/nonexistent/program"}
	d := newDaemon(t, spec)
	err := d.Start(nil)
	if !errors.Is(err, ErrExec) || !strings.Contains(err.Error(), "nope") || !strings.Contains(err.Error(), "/nonexistent/program") {
		t.Fatalf("Start = %v, want ErrExec naming daemon and program", err)
	}
	if d.State() != Stopped {
		t.Fatalf("state %v", d.State())
	}
}

func TestStopTimeoutEscalates(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "stubborn", "stubborn")
	spec.StopTimeout = 100 * time.Millisecond
	d := newDaemon(t, spec)
	d.ReadLog()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, "ready")
	d.Stop()
	evs := waitState(t, d, Stopped)
	last := evs[len(evs)-1]
	if last.Reason != ReasonStopTimeout {
		t.Fatalf("events %v", evs)
	}
	_ = syscall.SIGKILL
}
