// events_test.go checks what events.go says: exit statuses and events as
// text.

package launcher

import (
	"errors"
	"syscall"
	"testing"
)

func TestExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		exit    *ExitStatus
		str     string
		success bool
	}{
		{"nil", nil, "unknown", true},
		{"code-0", &ExitStatus{Code: 0}, "exit status 0", true},
		{"code-1", &ExitStatus{Code: 1}, "exit status 1", false},
		{"code-255", &ExitStatus{Code: 255}, "exit status 255", false},
		{"killed", &ExitStatus{Code: -1, Signal: syscall.SIGKILL}, "signal: killed", false},
		{"terminated", &ExitStatus{Code: -1, Signal: syscall.SIGTERM}, "signal: terminated", false},
		{"core-dumped", &ExitStatus{Code: -1, Signal: syscall.SIGSEGV, CoreDumped: true},
			"signal: segmentation fault (core dumped)", false},
		// The signal wins over a zero code.
		{"signal-code-0", &ExitStatus{Signal: syscall.SIGKILL}, "signal: killed", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.exit.String(); got != tt.str {
				t.Errorf("%#v.String() = %q, want %q", tt.exit, got, tt.str)
			}
			if got := tt.exit.Success(); got != tt.success {
				t.Errorf("%#v.Success() = %v, want %v", tt.exit, got, tt.success)
			}
		})
	}
}

func TestEventString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"crash", Event{Seq: 3, Daemon: "web", From: Running, To: Zombie, Reason: ReasonCrashed, PID: 42,
			Exit: &ExitStatus{Code: 1}},
			"web running → zombie (crashed, pid 42, exit status 1)"},
		{"start", Event{Seq: 1, Daemon: "web", From: Stopped, To: Starting, Reason: ReasonRequested},
			"web stopped → starting (requested)"},
		{"pid-only", Event{Daemon: "db", From: Starting, To: Running, Reason: ReasonReady, PID: 7},
			"db starting → running (ready, pid 7)"},
		{"negative-pid", Event{Daemon: "db", From: Starting, To: Running, Reason: ReasonReady, PID: -1},
			"db starting → running (ready)"},
		{"core-dump", Event{Daemon: "web", From: Running, To: Zombie, Reason: ReasonCrashed, PID: 42,
			Exit: &ExitStatus{Code: -1, Signal: syscall.SIGSEGV, CoreDumped: true}},
			"web running → zombie (crashed, pid 42, signal: segmentation fault (core dumped))"},
		{"err", Event{Daemon: "web", From: Running, To: Stopping, Reason: ReasonRequested, PID: 42,
			Err: errors.New("send signal: operation not permitted")},
			"web running → stopping (requested, pid 42, send signal: operation not permitted)"},
		{"exit-and-err", Event{Daemon: "w", From: Stopping, To: Zombie, Reason: ReasonStopTimeout, PID: 9,
			Exit: &ExitStatus{Code: -1, Signal: syscall.SIGKILL}, Err: errors.New("boom")},
			"w stopping → zombie (stop-timeout, pid 9, signal: killed, boom)"},
		{"out-of-range", Event{Daemon: "x", From: State(9), To: Stopped, Reason: Reason(99)},
			"x state(9) → stopped (reason(99))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.ev.String(); got != tt.want {
				t.Errorf("Event.String():\ngot  %q\nwant %q", got, tt.want)
			}
		})
	}
}
