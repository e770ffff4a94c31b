//go:build linux

package launcher

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestInputFIFO(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "reader", "")
	spec.StartSecs, spec.InputFIFO = -1, true
	spec.Func, spec.Command = "", []string{"sh", "-c", `while read l; do echo "got $l"; done; echo eof`}
	d := newDaemon(t, spec)
	if err := d.WriteInput([]byte("x\n")); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("WriteInput before start = %v, want ErrNotRunning", err)
	}
	d.ReadLog()
	if err := d.Start([]byte("first\n")); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, "got first")
	if err := d.WriteInput([]byte("second\n")); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, "got second")
	// Another controller writes to the same daemon.
	other, err := New(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.WriteInput([]byte("third\n")); err != nil {
		t.Fatal(err)
	}
	log := waitLog(t, d, "got third")
	if strings.Contains(log, "eof") {
		t.Fatalf("the daemon read end-of-file: %q", log)
	}
}

// A daemon that does not read: WriteInput fails once the pipe is full and
// never blocks.
func TestInputFIFOFull(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "deafreader", "")
	spec.StartSecs, spec.InputFIFO = -1, true
	spec.Func, spec.Command = "", []string{"sleep", "300"}
	d := newDaemon(t, spec)
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	var err error
	for i := 0; i < 1000 && err == nil; i++ { // 4 MiB: far more than a pipe holds
		err = d.WriteInput(chunk)
	}
	if !errors.Is(err, ErrInputFull) || !strings.Contains(err.Error(), "deafreader") {
		t.Fatalf("WriteInput to a full pipe = %v, want ErrInputFull naming the daemon", err)
	}
	fi, _ := os.Lstat(spec.PIDDir + "/deafreader.stdin")
	if fi.Mode().Type() != os.ModeNamedPipe {
		t.Fatalf("stdin file mode %v", fi.Mode())
	}
}

// A Func daemon with InputFIFO runs its function at once (its stdin is a
// stream it reads itself, Start's data first), and stops on StopSignal.
func TestFuncInputFIFO(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "liner", "lines")
	spec.InputFIFO = true
	spec.StopTimeout = time.Minute // a stop must not need the SIGKILL
	d := newDaemon(t, spec)
	d.ReadLog()
	if err := d.Start([]byte("first\n")); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, "got: first\n")
	if err := d.WriteInput([]byte("second\n")); err != nil {
		t.Fatal(err)
	}
	waitLog(t, d, "got: second\n")
	if b, _ := os.ReadFile(d.LogFile()); !strings.Contains(string(b), `lines: data=""`) {
		t.Errorf("log %q: the function should get no data (it reads the stream)", b)
	}
	d.Stop()
	evs := waitState(t, d, Stopped)
	for _, ev := range evs {
		if ev.Reason == ReasonStopTimeout {
			t.Fatalf("stopped only by SIGKILL: %v", evs)
		}
	}
}
