// events.go is what a daemon's life is told in: Reason, ExitStatus and
// Event.

package launcher

import (
	"strconv"
	"syscall"
	"time"
)

// Reason says why a transition happened.
type Reason uint8

const (
	// ReasonNone is the zero Reason, used by no event.
	ReasonNone Reason = iota
	// ReasonRequested: a caller asked for it (Start, Stop, ForceStop,
	// Restart), or the process exited because it was asked to stop.
	ReasonRequested
	// ReasonReady: the daemon stayed up for StartSecs and is confirmed.
	ReasonReady
	// ReasonExited: the process exited by itself with status 0.
	ReasonExited
	// ReasonCrashed: the process exited by itself with a non-zero status or
	// was killed by a signal nobody here sent.
	ReasonCrashed
	// ReasonStartFailed: the process exited while still starting. As a
	// note (From == To == Stopped, Err set): a start asked for by a
	// supervisor or a restart could not spawn the process.
	ReasonStartFailed
	// ReasonStopTimeout: the process did not exit within StopTimeout and
	// was sent SIGKILL.
	ReasonStopTimeout
	// ReasonBackoff: a supervisor holds a restart back (Manager).
	ReasonBackoff
	// ReasonGaveUp: a supervisor stopped restarting a crash-looping daemon.
	// It is a note: an event with From == To that changes no state.
	ReasonGaveUp
	// ReasonDisabled: the daemon is disabled.
	ReasonDisabled
	// ReasonAdopted: a process started by another controller was found
	// through the daemon's files and taken over.
	ReasonAdopted
	// ReasonWatchdog: a running daemon stopped sending WATCHDOG=1 within
	// WatchdogSec and is being restarted.
	ReasonWatchdog
	// ReasonRequestedElsewhere: another controller (the CLI, another
	// program, another Manager) asked for it: a start, stop or restart
	// this one carried out as its supervisor, or only saw happen.
	ReasonRequestedElsewhere
	// ReasonUnknownExit: a process that is not our child exited and nobody
	// could learn its status (no exit record, no proc connector): it is
	// never called exited or crashed.
	ReasonUnknownExit
	numReasons
)

var reasonNames = [numReasons]string{"none", "requested", "ready", "exited", "crashed",
	"start-failed", "stop-timeout", "backoff", "gave-up", "disabled", "adopted", "watchdog",
	"requested-elsewhere", "unknown-exit"}

// String returns the reason's lower-case, hyphenated name ("start-failed").
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason(" + strconv.Itoa(int(r)) + ")"
}

// ExitStatus is how a process ended, in os.ProcessState's terms.
type ExitStatus struct {
	// Code is the exit code, or -1 when a signal ended the process.
	Code int
	// Signal is the signal that ended the process, or 0.
	Signal syscall.Signal
	// CoreDumped reports whether the process dumped core.
	CoreDumped bool
}

// Success reports whether the process exited with code 0. A nil status (an
// exit whose status could not be known) counts as success.
func (e *ExitStatus) Success() bool { return e == nil || (e.Code == 0 && e.Signal == 0) }

// String uses os.ProcessState's wording: "exit status 1", "signal: killed",
// "signal: segmentation fault (core dumped)"; "unknown" for a nil status.
func (e *ExitStatus) String() string {
	switch {
	case e == nil:
		return "unknown"
	case e.Signal != 0:
		s := "signal: " + e.Signal.String()
		if e.CoreDumped {
			s += " (core dumped)"
		}
		return s
	default:
		return "exit status " + strconv.Itoa(e.Code)
	}
}

// Event is one transition of one daemon, or a note: an event with From ==
// To that changes no state and says so by its Reason (gave-up; start-failed
// with Err, when a queued start could not spawn).
//
// Events of one daemon come in the order they were made, and their Seq
// goes up by exactly one from 1, so a consumer can tell that it missed none.
type Event struct {
	Seq    uint64      // per daemon, from 1, no gaps
	Time   time.Time   // when the transition was made (the now given to Poll)
	Daemon string      // the daemon's name
	From   State       // the state left
	To     State       // the state entered
	Reason Reason      // why
	PID    int         // the main process, or 0 when there was none
	Exit   *ExitStatus // set on the exit transition when the status is known
	Err    error       // what went wrong, when something did (a failed signal, say)
}

// String formats the event as one log line: "web running → zombie (crashed, pid 42, exit status 1)".
func (e Event) String() string {
	s := e.Daemon + " " + e.From.String() + " → " + e.To.String() + " (" + e.Reason.String()
	if e.PID > 0 {
		s += ", pid " + strconv.Itoa(e.PID)
	}
	if e.Exit != nil {
		s += ", " + e.Exit.String()
	}
	if e.Err != nil {
		s += ", " + e.Err.Error()
	}
	return s + ")"
}

// statusFromWait converts a wait status (as the kernel encodes it for
// waitpid, the proc connector and PIDFD_INFO_EXIT) into an ExitStatus.
func statusFromWait(ws syscall.WaitStatus) *ExitStatus {
	if ws.Signaled() {
		return &ExitStatus{Code: -1, Signal: ws.Signal(), CoreDumped: ws.CoreDump()}
	}
	return &ExitStatus{Code: ws.ExitStatus()}
}
