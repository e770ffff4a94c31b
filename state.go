package launcher

import "strconv"

// State is where a daemon is in its life. The zero value is Stopped.
//
// A daemon moves between states only inside Poll (and Start, Stop and their
// kin, which apply the caller's request at once); every move is one Event.
type State uint8

const (
	// Stopped: no process of this daemon exists. Next: Starting (Start),
	// Running or Zombie (a process found through the daemon's files is
	// adopted).
	Stopped State = iota
	// Starting: spawned, not yet confirmed: it has not yet stayed up for
	// StartSecs. Next: Running, Stopping, Zombie.
	Starting
	// Running: alive and confirmed. Next: Stopping, Zombie.
	Running
	// Stopping: the stop signal was sent; waiting for the exit. Poll sends
	// SIGKILL when StopTimeout passes. Next: Zombie, or Stopped when the
	// main process had already exited.
	Stopping
	// Zombie: the main process has exited but the daemon is not gone yet.
	// Every exit passes through Zombie (the exit event carries the status)
	// and goes on to Stopped in the same Poll, unless processes it left
	// behind (its process group, or holders of its lock) are still alive;
	// then it stays. Start refuses with ErrZombie; Stop and ForceStop
	// signal the leftovers. Next: Stopped, Stopping.
	Zombie
	numStates
)

var stateNames = [numStates]string{"stopped", "starting", "running", "stopping", "zombie"}

// String returns the lower-case name of the state: "stopped", "running", ...
func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// inputKind is what the driver (daemon.go) observed or was asked.
type inputKind uint8

const (
	inStart        inputKind = iota // the caller asked to start
	inConfirm                       // StartSecs passed with the process alive
	inStop                          // the caller asked to stop
	inForceStop                     // the caller asked to kill
	inStopTimeout                   // StopTimeout passed while stopping
	inExited                        // the main process exited (and was reaped if ours)
	inGone                          // no leftovers: nothing of the daemon is alive
	inAdoptRunning                  // the files name a live process of ours
	inAdoptZombie                   // the files name leftovers but no main process
	numInputs
)

var inputNames = [numInputs]string{"start", "confirm", "stop", "force-stop", "stop-timeout",
	"exited", "gone", "adopt-running", "adopt-zombie"}

func (k inputKind) String() string {
	if k < numInputs {
		return inputNames[k]
	}
	return "input(" + strconv.Itoa(int(k)) + ")"
}

// input is one observation fed to step.
type input struct {
	kind      inputKind
	exit      *ExitStatus // with inExited: the status, nil when unknown
	escalated bool        // with inExited/inGone: SIGKILL was sent at StopTimeout
	reason    Reason      // with inGone: the reason of the exit that led here; with inStart, inStop: who asked (default requested)
}

// or returns r, or def when r is ReasonNone.
func (r Reason) or(def Reason) Reason {
	if r == ReasonNone {
		return def
	}
	return r
}

// action is what the driver must do for a transition, as a bit set.
type action uint8

const (
	actSpawn       action = 1 << iota // start the process
	actSignalStop                     // send StopSignal and SIGCONT
	actKill                           // send SIGKILL
	actRemoveFiles                    // remove the pid and identity files
)

// transition is the outcome of step.
type transition struct {
	to     State
	reason Reason
	acts   action
	event  bool  // the state changed: emit an Event
	err    error // the request is refused in this state
}

// step is the whole state machine: no syscalls, no clock, no daemon. The
// driver feeds it what it saw and carries out the actions it returns.
func step(s State, in input) transition {
	stay := transition{to: s}
	move := func(to State, r Reason, acts action) transition {
		return transition{to: to, reason: r, acts: acts, event: true}
	}
	switch in.kind {
	case inStart:
		switch s {
		case Stopped:
			return move(Starting, in.reason.or(ReasonRequested), actSpawn)
		case Zombie:
			return transition{to: s, err: ErrZombie}
		}
		// Starting, Running: already running, nothing to do (the seed's
		// rule). Stopping: the driver queues the start for after the exit.
		return stay
	case inConfirm:
		if s == Starting {
			return move(Running, ReasonReady, 0)
		}
	case inStop:
		switch s {
		case Starting, Running, Zombie:
			return move(Stopping, in.reason.or(ReasonRequested), actSignalStop)
		}
	case inForceStop:
		switch s {
		case Starting, Running, Zombie:
			return move(Stopping, ReasonRequested, actKill)
		case Stopping:
			return transition{to: s, acts: actKill}
		}
	case inStopTimeout:
		switch s {
		case Stopping, Zombie:
			return transition{to: s, acts: actKill}
		}
	case inExited:
		switch s {
		case Starting:
			return move(Zombie, ReasonStartFailed, 0)
		case Running:
			if in.exit.Success() {
				return move(Zombie, ReasonExited, 0)
			}
			return move(Zombie, ReasonCrashed, 0)
		case Stopping:
			if in.escalated {
				return move(Zombie, ReasonStopTimeout, 0)
			}
			return move(Zombie, ReasonRequested, 0)
		}
	case inGone:
		switch s {
		case Zombie:
			return move(Stopped, in.reason.or(ReasonExited), actRemoveFiles)
		case Stopping:
			if in.escalated {
				return move(Stopped, ReasonStopTimeout, actRemoveFiles)
			}
			return move(Stopped, ReasonRequested, actRemoveFiles)
		}
	case inAdoptRunning:
		if s == Stopped {
			return move(Running, ReasonAdopted, 0)
		}
	case inAdoptZombie:
		if s == Stopped {
			return move(Zombie, ReasonAdopted, 0)
		}
	}
	return stay
}
