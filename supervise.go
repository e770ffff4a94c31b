// supervise.go is the supervision policy: whether and when a daemon that
// ended is started again, as one pure function, decide, over the record
// that every controller can read (<name>.status).

package launcher

import (
	"slices"
	"time"
)

// policy is the part of a Spec that supervision reads.
type policy struct {
	restart            RestartPolicy
	delay, maxDelay    time.Duration
	resetAfter, window time.Duration
	maxRestarts        int
}

func policyOf(s Spec) policy {
	return policy{restart: s.Restart, delay: s.RestartDelay, maxDelay: s.MaxRestartDelay,
		resetAfter: s.ResetAfter, window: s.RestartWindow, maxRestarts: s.MaxRestarts}
}

// verdict is what decide says to do about one event.
type verdict uint8

const (
	keepGoing verdict = iota // nothing to do
	restartAt                // start again at rec.NextRestart (reason backoff)
	giveUp                   // too many restarts within the window: stop trying
	stayDown                 // it ended by itself and the policy leaves it down
)

var verdictNames = [...]string{"keep-going", "restart", "give-up", "stay-down"}

func (v verdict) String() string { return verdictNames[v] }

// decide applies the policy to one event of a daemon wanted up. upSince is
// when it last became running (zero: it never did since the last restart),
// jitter a number in [0, 1) that spreads the delays. It returns the record
// as it is after the event.
//
// Exits that were asked for (a stop here or elsewhere, its StopTimeout)
// are never restarted. A crash, a start that failed, an exit whose status
// nobody could read (assumed a failure) and a watchdog stop count as
// failures; a clean exit counts only under RestartAlways. Each restart
// doubles the delay up to maxDelay (±20% jitter); a run of resetAfter
// starts afresh; maxRestarts within the window gives up.
func decide(rec supRecord, ev Event, p policy, upSince time.Time, now time.Time, jitter float64) (supRecord, verdict) {
	if ev.To == Zombie && ev.From != Zombie {
		rec.LastExit, rec.LastReason, rec.Since = ev.Exit, ev.Reason, ev.Time
		return rec, keepGoing
	}
	if ev.To != Stopped || ev.From == Stopped {
		return rec, keepGoing
	}
	rec.LastReason, rec.Since = ev.Reason, ev.Time
	switch ev.Reason {
	case ReasonRequested, ReasonRequestedElsewhere, ReasonStopTimeout, ReasonDisabled:
		return rec, keepGoing
	}
	failed := ev.Reason == ReasonCrashed || ev.Reason == ReasonStartFailed ||
		ev.Reason == ReasonUnknownExit || ev.Reason == ReasonWatchdog
	if !(p.restart == RestartAlways || p.restart == RestartOnFailure && failed) {
		return rec, stayDown
	}
	return backoff(rec, p, upSince, now, jitter)
}

// backoff schedules the next restart, or gives up.
func backoff(rec supRecord, p policy, upSince time.Time, now time.Time, jitter float64) (supRecord, verdict) {
	if !upSince.IsZero() && now.Sub(upSince) >= p.resetAfter {
		rec.Recent, rec.Delay = nil, 0 // a stable run: start afresh
	}
	rec.Recent = slices.DeleteFunc(slices.Clone(rec.Recent), func(t time.Time) bool { return now.Sub(t) >= p.window })
	if p.maxRestarts >= 0 && len(rec.Recent) >= p.maxRestarts {
		rec.GaveUp, rec.NextRestart = true, time.Time{}
		return rec, giveUp
	}
	if rec.Delay == 0 {
		rec.Delay = p.delay
	} else {
		rec.Delay = min(2*rec.Delay, p.maxDelay)
	}
	if p.maxRestarts >= 0 {
		// Only the last maxRestarts can make it give up: with no limit it
		// kept one per restart for the whole window in the shared record,
		// which outgrew what a reader takes (a crash loop every few ms
		// passed 64 KiB in 15 s, and every controller then showed 0
		// restarts). MaxRestarts is at most maxMaxRestarts.
		rec.Recent = append(rec.Recent, now)
		rec.Recent = rec.Recent[max(len(rec.Recent)-p.maxRestarts, 0):]
	} else {
		rec.Recent = nil
	}
	rec.NextRestart = now
	if wait := time.Duration(float64(rec.Delay) * (0.8 + 0.4*jitter)); wait >= time.Millisecond {
		rec.NextRestart = now.Add(wait) // shorter than the timer's grain: at once, in this Poll
	}
	return rec, restartAt
}

// reset is what a Start or Restart asked for by hand does to the record:
// the count of recent restarts, the backoff and a gave-up go.
func (rec supRecord) reset() supRecord {
	rec.GaveUp, rec.Recent, rec.Delay, rec.NextRestart = false, nil, 0, time.Time{}
	return rec
}

// supervision is what a Manager keeps for one of its daemons besides the
// shared record.
type supervision struct {
	after       []*Daemon // started after these are running
	missing     []string  // names in After not added yet
	dependents  []*Daemon // the daemons that name this one in After
	wantUp      bool      // what this Manager acts on (from <name>.want)
	gen         uint64    // the restart generation acted on
	kill        bool      // ... and whether a stop wanted was a force-stop
	gaveUp      bool      // a Start under way is of a daemon its supervisor gave up on
	why         Reason    // the reason the next start carries
	startQueued bool      // asked to start, waiting for the daemons it runs after
	stopQueued  bool      // wanted down, waiting for its dependents to stop first
	stopWhy     Reason
	upSince     time.Time // when it last became running
	unwatched   bool      // no supervisor watched it until now: an exit is old news

	// The Manager's options, for the daemon's own methods.
	noSupervise bool
	jitter      func() float64
}

// due is when the supervisor has timed work for d: a restart after backoff.
func (s *supervision) due(d *Daemon) time.Time {
	if d.lease >= 0 && s.wantUp && d.m.state == Stopped && !d.rec.GaveUp {
		return d.rec.NextRestart
	}
	return time.Time{}
}
