// state.go is the state machine of one daemon: its states, what it can be
// told (inputs), and one pure function, step, that decides every move. The
// driver (drive.go) feeds it what it saw and carries out the actions it
// returns; it decides nothing by itself.

package launcher

import (
	"strconv"
	"time"
)

// State is where a daemon is in its life. The zero value is Stopped.
//
// A daemon moves between states when a request (Start, Stop, ...) is
// applied or when Poll observes something; every move is one Event.
type State uint8

const (
	// Stopped: no process of this daemon exists. Next: Starting (Start),
	// or Starting, Running or Zombie when a process started elsewhere is
	// found through the pid dir (reason adopted).
	Stopped State = iota
	// Starting: spawned, not yet confirmed: it has not yet stayed up for
	// StartSecs, or not yet said it is ready (Spec.Ready). Next: Running,
	// Stopping, Zombie.
	Starting
	// Running: alive and confirmed. Next: Stopping, Zombie.
	Running
	// Stopping: the stop signal was sent; SIGKILL follows at StopTimeout.
	// Next: Zombie, or Stopped when the main process had already exited.
	Stopping
	// Zombie: the main process has exited but the daemon is not gone yet.
	// Every exit passes through Zombie (the exit event carries the status)
	// and goes on to Stopped in the same Poll, unless processes it left
	// behind still hold its lock; then it stays until they let go. Start
	// refuses with ErrZombie; Stop and ForceStop signal the leftovers.
	// Next: Stopped, Stopping, or Starting/Running when another
	// controller's new instance holds the lock (reason adopted).
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

// machine is everything the state machine knows of one daemon: the state,
// the settings that shape it, its deadlines and what it was asked for.
// It holds no process, no file and no clock.
type machine struct {
	state  State
	reason Reason
	since  time.Time

	// Settings, fixed at New.
	startSecs   time.Duration // how long Starting lasts; <= 0: confirmed at the next tick
	stopTimeout time.Duration
	needReady   bool          // confirmation comes from the daemon (Spec.Ready), not from startSecs
	watchdog    time.Duration // Running: stop a daemon silent this long; 0: none
	selfRestart bool          // a watchdog stop restarts by itself (a lone Daemon; a Manager decides for its own)

	confirmAt  time.Time // Starting, !needReady: when it counts as running
	stopAt     time.Time // Stopping, or Zombie being stopped: when to send SIGKILL
	killed     bool      // SIGKILL was sent: no deadline left
	timedOut   bool      // ... because StopTimeout passed
	stopWhy    Reason    // the reason of the stop under way
	exitReason Reason    // Zombie: the exit's reason, carried on to Stopped
	lastBeat   time.Time // Running with a watchdog: the last sign of life
	quitting   bool      // the daemon said STOPPING=1: no watchdog now
	queued     bool      // start again once gone
	queuedWhy  Reason    // the reason that start carries
}

// inputKind is what the driver observed or was asked.
type inputKind uint8

const (
	inStart       inputKind = iota // a start was asked (reason: who asked)
	inRestart                      // a restart was asked
	inStop                         // a stop was asked
	inForceStop                    // a kill was asked
	inSpawned                      // the spawn asked for by actSpawn succeeded
	inSpawnFailed                  // ... or failed (err)
	inTick                         // time passed: check the deadlines
	inReady                        // the daemon said it is ready
	inBeat                         // the daemon sent WATCHDOG=1
	inQuitting                     // the daemon sent STOPPING=1
	inExited                       // the main process exited (exit: status, or nil if unknown)
	inGone                         // nothing of the daemon holds its lock any more
	inAdopt                        // a process started elsewhere was found (to: its state)
	numInputs
)

var inputNames = [numInputs]string{"start", "restart", "stop", "force-stop", "spawned", "spawn-failed",
	"tick", "ready", "beat", "quitting", "exited", "gone", "adopt"}

func (k inputKind) String() string {
	if k < numInputs {
		return inputNames[k]
	}
	return "input(" + strconv.Itoa(int(k)) + ")"
}

// input is one observation or request fed to step.
type input struct {
	kind   inputKind
	reason Reason      // inStart, inRestart, inStop, inForceStop: who asked (default requested)
	exit   *ExitStatus // inExited: the status, nil when unknown
	known  bool        // inExited: the status is known (a nil exit then means success)
	asked  bool        // inExited: another controller asked for this exit (requested-elsewhere)
	to     State       // inAdopt: Starting, Running or Zombie
	at     time.Time   // inAdopt: when the process started (Starting: StartSecs counts from it)
	err    error       // inSpawnFailed: why
}

// action is what the driver must do, as a bit set.
type action uint8

const (
	actSpawn       action = 1 << iota // start the process (then feed inSpawned or inSpawnFailed)
	actSignalStop                     // send StopSignal and SIGCONT
	actKill                           // send SIGKILL
	actCheckGone                      // see whether the lock is free (then feed inGone)
	actRemoveFiles                    // remove the pid and identity records
)

// result is what one step made: at most one transition or note, the
// actions, or a refusal.
type result struct {
	event  bool   // emit an event: a transition to m.state, or a note when note is set
	note   Reason // a note that changes no state (From == To), e.g. start-failed
	reason Reason // the event's reason
	exit   *ExitStatus
	acts   action
	err    error // the request is refused in this state
}

// or returns r, or def when r is ReasonNone.
func (r Reason) or(def Reason) Reason {
	if r == ReasonNone {
		return def
	}
	return r
}

// deadline returns when the machine next has timed work (the zero time
// when it has none): the end of StartSecs, StopTimeout, the watchdog.
func (m *machine) deadline() time.Time {
	switch {
	case m.state == Starting && !m.needReady:
		return m.confirmAt
	case (m.state == Stopping || m.state == Zombie) && !m.stopAt.IsZero() && !m.killed:
		return m.stopAt
	case m.state == Running && m.watchdog > 0 && !m.quitting && !m.lastBeat.IsZero():
		return m.lastBeat.Add(m.watchdog)
	}
	return time.Time{}
}

// step is the whole state machine: no syscalls, no daemon, the clock given.
// It returns the machine after in, and what the driver must do.
func step(m machine, in input, now time.Time) (machine, result) {
	var r result
	move := func(to State, why Reason) {
		m.state, m.reason, m.since = to, why, now
		r.event, r.reason = true, why
	}
	stop := func(why Reason, kill bool) {
		move(Stopping, why)
		m.stopWhy, m.killed, m.timedOut = why, kill, false
		m.stopAt = now.Add(m.stopTimeout)
		if kill {
			r.acts |= actKill
		} else {
			r.acts |= actSignalStop
		}
	}
	switch in.kind {
	case inStart, inRestart:
		why := in.reason.or(ReasonRequested)
		switch m.state {
		case Stopped:
			m.queued, m.queuedWhy = true, why
			r.acts |= actSpawn
		case Starting, Running:
			if in.kind == inRestart {
				stop(why, false)
				m.queued, m.queuedWhy = true, why
			}
			// A start of a live daemon does nothing (the seed's rule).
		case Stopping:
			m.queued, m.queuedWhy = true, why
		case Zombie:
			if in.kind == inStart {
				r.err = ErrZombie
				break
			}
			stop(why, false)
			m.queued, m.queuedWhy = true, why
		}
	case inSpawned:
		if m.state == Stopped && m.queued {
			move(Starting, m.queuedWhy)
			m.queued = false
			m.confirmAt = now.Add(max(m.startSecs, 0))
			m.lastBeat, m.quitting, m.killed, m.timedOut, m.stopAt = time.Time{}, false, false, false, time.Time{}
		}
	case inSpawnFailed:
		if m.state == Stopped && m.queued {
			m.queued = false
			r.event, r.note, r.reason = true, ReasonStartFailed, ReasonStartFailed
		}
	case inStop, inForceStop:
		kill := in.kind == inForceStop
		m.queued = false
		switch m.state {
		case Starting, Running, Zombie:
			stop(in.reason.or(ReasonRequested), kill)
		case Stopping:
			if kill && !m.killed {
				m.killed = true
				r.acts |= actKill
			}
		}
	case inTick:
		switch {
		case m.state == Starting && !m.needReady && !now.Before(m.confirmAt):
			move(Running, ReasonReady)
			m.lastBeat = now
		case (m.state == Stopping || m.state == Zombie) && !m.stopAt.IsZero() && !m.killed && !now.Before(m.stopAt):
			m.killed, m.timedOut = true, true
			r.acts |= actKill
		case m.state == Running && m.watchdog > 0 && !m.quitting && !m.lastBeat.IsZero() &&
			now.Sub(m.lastBeat) >= m.watchdog:
			stop(ReasonWatchdog, false)
			if m.selfRestart {
				m.queued, m.queuedWhy = true, ReasonWatchdog
			}
		}
	case inReady:
		switch m.state {
		case Starting:
			move(Running, ReasonReady)
			m.lastBeat = now
		case Running:
			m.lastBeat = now
		}
	case inBeat:
		if m.state == Running || m.state == Starting {
			m.lastBeat = now
		}
	case inQuitting:
		m.quitting = true
	case inExited:
		var why Reason
		switch m.state {
		case Starting:
			why = ReasonStartFailed
		case Running:
			switch {
			case in.asked:
				why = ReasonRequestedElsewhere
			case !in.known:
				why = ReasonUnknownExit
			case in.exit.Success():
				why = ReasonExited
			default:
				why = ReasonCrashed
			}
		case Stopping:
			why = m.stopReason()
		default:
			return m, r // Stopped, or a Zombie already: nothing more exited
		}
		if in.asked && m.state == Starting {
			why = ReasonRequestedElsewhere
		}
		move(Zombie, why)
		m.exitReason = why
		r.exit = in.exit
		r.acts |= actCheckGone
	case inGone:
		if m.state != Zombie && m.state != Stopping {
			break
		}
		why := m.exitReason.or(ReasonExited)
		if m.state == Stopping { // the leftovers of a Zombie, stopped
			why = m.stopReason()
		}
		move(Stopped, why)
		m.confirmAt, m.stopAt, m.killed, m.timedOut, m.exitReason = time.Time{}, time.Time{}, false, false, ReasonNone
		if m.queued {
			r.acts |= actSpawn
		} else {
			r.acts |= actRemoveFiles
		}
	case inAdopt:
		if m.state != Stopped && m.state != Zombie && !(m.state == Stopping && m.exitReason != ReasonNone) {
			break
		}
		switch in.to {
		case Starting:
			move(Starting, ReasonAdopted)
			m.confirmAt = in.at.Add(max(m.startSecs, 0))
		case Running:
			move(Running, ReasonAdopted)
			m.lastBeat = now
		case Zombie:
			if m.state != Stopped {
				break
			}
			move(Zombie, ReasonAdopted)
			m.exitReason = ReasonExited
		}
		if m.state == Starting || m.state == Running {
			m.queued, m.killed, m.timedOut, m.stopAt, m.exitReason, m.quitting = false, false, false, time.Time{}, ReasonNone, false
		}
	}
	return m, r
}

// stopReason is why a stop ended: the reason it was made for, or
// stop-timeout when a stop asked for needed the SIGKILL. A watchdog stop
// stays a watchdog stop however it ended: a hung daemon that also ignores
// SIGTERM is still a failure its supervisor counts and backs off from.
func (m machine) stopReason() Reason {
	why := m.stopWhy.or(ReasonRequested)
	if m.timedOut && why != ReasonWatchdog {
		why = ReasonStopTimeout
	}
	return why
}
