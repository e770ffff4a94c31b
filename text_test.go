// text_test.go checks the text and JSON forms of the package's types.

package launcher

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Every value of every enumeration goes to its name and back; junk is a
// clear error naming the kind.
func TestTextRoundTrip(t *testing.T) {
	t.Parallel()
	type codec interface {
		encoding.TextMarshaler
	}
	check := func(what string, n int, get func(i int) (codec, encoding.TextUnmarshaler, func() int)) {
		for i := range n {
			v, into, back := get(i)
			b, err := v.MarshalText()
			if err != nil || strings.ContainsAny(string(b), " (") {
				t.Errorf("%s %d: MarshalText = %q, %v", what, i, b, err)
				continue
			}
			if err := into.UnmarshalText(b); err != nil || back() != i {
				t.Errorf("%s %d: %q came back as %d, %v", what, i, b, back(), err)
			}
		}
		_, into, _ := get(0)
		if err := into.UnmarshalText([]byte("bogus")); err == nil || !strings.Contains(err.Error(), what) {
			t.Errorf("%s: UnmarshalText(bogus) = %v, want an error naming the %s", what, err, what)
		}
	}
	check("state", int(numStates), func(i int) (codec, encoding.TextUnmarshaler, func() int) {
		var s State
		return State(i), &s, func() int { return int(s) }
	})
	check("reason", int(numReasons), func(i int) (codec, encoding.TextUnmarshaler, func() int) {
		var r Reason
		return Reason(i), &r, func() int { return int(r) }
	})
	check("kill mode", len(killModeNames), func(i int) (codec, encoding.TextUnmarshaler, func() int) {
		var k KillMode
		return KillMode(i), &k, func() int { return int(k) }
	})
	check("restart policy", len(restartNames), func(i int) (codec, encoding.TextUnmarshaler, func() int) {
		var p RestartPolicy
		return RestartPolicy(i), &p, func() int { return int(p) }
	})
	check("ready mode", len(readyNames), func(i int) (codec, encoding.TextUnmarshaler, func() int) {
		var m ReadyMode
		return ReadyMode(i), &m, func() int { return int(m) }
	})
}

func TestExitStatusText(t *testing.T) {
	t.Parallel()
	for _, e := range []ExitStatus{{Code: 0}, {Code: 1}, {Code: 255}, {Code: -1, Signal: syscall.SIGKILL},
		{Code: -1, Signal: syscall.SIGSEGV, CoreDumped: true}, {Code: -1, Signal: syscall.Signal(40)}} {
		b, _ := e.MarshalText()
		var got ExitStatus
		if err := got.UnmarshalText(b); err != nil || got != e {
			t.Errorf("%q came back as %+v, %v; want %+v", b, got, err, e)
		}
	}
	for _, bad := range []string{"", "exit status x", "signal: nope", "killed"} {
		var e ExitStatus
		if err := e.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) = %+v, want an error", bad, e)
		}
	}
}

// A Status marshals with names, seconds and no zero times, and comes back.
func TestStatusJSON(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	st := Status{Name: "web", State: Running, Reason: ReasonReady, Seq: 4, PID: 42, Since: since,
		Uptime: 90 * time.Second, LastExit: &ExitStatus{Code: -1, Signal: syscall.SIGKILL}, Enabled: true,
		WantUp: true, CPUTime: 1500 * time.Millisecond, RSS: 1 << 20, Restarts: 2, Supervisor: 7}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"state":"running"`, `"reason":"ready"`, `"uptime_seconds":90`,
		`"last_exit":"signal: killed"`, `"wanted":"up"`, `"cpu_seconds":1.5`, `"since":"2026-12-03T10:00:00Z"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	if strings.Contains(string(b), "next_restart") || strings.Contains(string(b), "0001-01-01") {
		t.Errorf("JSON %s shows an absent time", b)
	}
	var back Status
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(st, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestEventJSON(t *testing.T) {
	t.Parallel()
	ev := Event{Seq: 3, Time: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), Daemon: "web", From: Running,
		To: Zombie, Reason: ReasonCrashed, PID: 42, Exit: &ExitStatus{Code: 1}, Err: errors.New("boom")}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":3,"time":"2026-12-03T10:00:00Z","daemon":"web","from":"running","to":"zombie","reason":"crashed","pid":42,"exit":"exit status 1","error":"boom"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

// Errors finds every daemon's error in a joined one, in order.
func TestErrorsOfJoin(t *testing.T) {
	t.Parallel()
	err := errors.Join(&Error{Op: "start", Daemon: "a", Err: ErrDisabled},
		fmt.Errorf("wrapped: %w", &Error{Op: "start", Daemon: "b", Err: ErrExec}), errors.New("other"))
	var names []string
	for _, le := range Errors(err) {
		names = append(names, le.Daemon)
	}
	if strings.Join(names, " ") != "a b" || Errors(nil) != nil {
		t.Fatalf("Errors = %v", names)
	}
}
