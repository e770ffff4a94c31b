// state_test.go checks the state machine alone: every state × every
// input against a table written by hand, the deadlines on a fake clock,
// invariants over random sequences, and the names.

package launcher

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
	"time"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Settings of the machines under test.
const (
	tStartSecs   = time.Second
	tStopTimeout = 10 * time.Second
	tWatchdog    = 3 * time.Second
)

// Exit statuses fed with inExited.
var (
	exitCode0  = &ExitStatus{Code: 0}
	exitCode1  = &ExitStatus{Code: 1}
	exitKilled = &ExitStatus{Code: -1, Signal: syscall.SIGKILL}
	exitCore   = &ExitStatus{Code: -1, Signal: syscall.SIGSEGV, CoreDumped: true}
)

// at returns a machine in state s as the driver leaves it there: the
// deadlines a path to s sets, from t0.
func at(s State) machine {
	m := machine{state: s, reason: ReasonRequested, since: t0, startSecs: tStartSecs, stopTimeout: tStopTimeout}
	switch s {
	case Starting:
		m.confirmAt = t0.Add(tStartSecs)
	case Running:
		m.lastBeat = t0
	case Stopping:
		m.stopAt, m.stopWhy = t0.Add(tStopTimeout), ReasonRequested
	case Zombie:
		m.exitReason = ReasonCrashed
	}
	return m
}

// expect is what one step must give.
type expect struct {
	state  State
	reason Reason // of the event; ReasonNone: no event
	note   bool   // the event is a note (From == To)
	acts   action
	err    error
	queued bool
}

type stepCase struct {
	from    State
	in      input
	variant string
	want    expect
}

func (c stepCase) name() string {
	n := c.from.String() + "/" + c.in.kind.String()
	if c.variant != "" {
		n += "/" + c.variant
	}
	return n
}

// stepTable is the machine written out by hand for the inputs that carry
// no time: every state × request, spawn outcome, readiness, exit, gone and
// adoption. It is the specification step is checked against; do not
// generate it from step. Deadlines (inTick) are TestStepDeadlines'.
func stepTable() []stepCase {
	start := input{kind: inStart}
	restart := input{kind: inRestart}
	stop := input{kind: inStop}
	force := input{kind: inForceStop}
	spawned := input{kind: inSpawned}
	failed := input{kind: inSpawnFailed, err: errors.New("no such file")}
	ready := input{kind: inReady}
	beat := input{kind: inBeat}
	quit := input{kind: inQuitting}
	gone := input{kind: inGone}
	exited := func(e *ExitStatus) input { return input{kind: inExited, exit: e, known: true} }
	unknown := input{kind: inExited}
	asked := input{kind: inExited, exit: exitCode0, known: true, asked: true}
	adopt := func(to State) input { return input{kind: inAdopt, to: to, at: t0} }
	type row = stepCase
	var rows []row
	add := func(from State, in input, variant string, w expect) {
		rows = append(rows, row{from, in, variant, w})
	}
	// Stopped: a start spawns (the state moves when the spawn is done);
	// only an adoption or a spawn moves it.
	add(Stopped, start, "", expect{state: Stopped, acts: actSpawn, queued: true})
	add(Stopped, restart, "", expect{state: Stopped, acts: actSpawn, queued: true})
	add(Stopped, stop, "", expect{state: Stopped})
	add(Stopped, force, "", expect{state: Stopped})
	add(Stopped, spawned, "not-asked", expect{state: Stopped})
	add(Stopped, failed, "not-asked", expect{state: Stopped})
	add(Stopped, ready, "", expect{state: Stopped})
	add(Stopped, beat, "", expect{state: Stopped})
	add(Stopped, quit, "", expect{state: Stopped})
	add(Stopped, exited(exitCode1), "", expect{state: Stopped})
	add(Stopped, gone, "", expect{state: Stopped})
	add(Stopped, adopt(Starting), "starting", expect{state: Starting, reason: ReasonAdopted})
	add(Stopped, adopt(Running), "running", expect{state: Running, reason: ReasonAdopted})
	add(Stopped, adopt(Zombie), "zombie", expect{state: Zombie, reason: ReasonAdopted})

	// Starting: any exit is a failed start.
	add(Starting, start, "", expect{state: Starting})
	add(Starting, restart, "", expect{state: Stopping, reason: ReasonRequested, acts: actSignalStop, queued: true})
	add(Starting, stop, "", expect{state: Stopping, reason: ReasonRequested, acts: actSignalStop})
	add(Starting, force, "", expect{state: Stopping, reason: ReasonRequested, acts: actKill})
	add(Starting, spawned, "", expect{state: Starting})
	add(Starting, failed, "", expect{state: Starting})
	add(Starting, ready, "", expect{state: Running, reason: ReasonReady})
	add(Starting, beat, "", expect{state: Starting})
	add(Starting, quit, "", expect{state: Starting})
	add(Starting, exited(exitCode0), "code-0", expect{state: Zombie, reason: ReasonStartFailed, acts: actCheckGone})
	add(Starting, exited(exitKilled), "killed", expect{state: Zombie, reason: ReasonStartFailed, acts: actCheckGone})
	add(Starting, unknown, "unknown", expect{state: Zombie, reason: ReasonStartFailed, acts: actCheckGone})
	add(Starting, asked, "asked-elsewhere", expect{state: Zombie, reason: ReasonRequestedElsewhere, acts: actCheckGone})
	add(Starting, gone, "", expect{state: Starting})
	add(Starting, adopt(Running), "", expect{state: Starting})

	// Running: a clean exit is exited, an unknown one unknown-exit (never
	// exited or crashed), anything else crashed.
	add(Running, start, "", expect{state: Running})
	add(Running, restart, "", expect{state: Stopping, reason: ReasonRequested, acts: actSignalStop, queued: true})
	add(Running, stop, "", expect{state: Stopping, reason: ReasonRequested, acts: actSignalStop})
	add(Running, force, "", expect{state: Stopping, reason: ReasonRequested, acts: actKill})
	add(Running, spawned, "", expect{state: Running})
	add(Running, failed, "", expect{state: Running})
	add(Running, ready, "", expect{state: Running})
	add(Running, beat, "", expect{state: Running})
	add(Running, quit, "", expect{state: Running})
	add(Running, exited(exitCode0), "code-0", expect{state: Zombie, reason: ReasonExited, acts: actCheckGone})
	add(Running, exited(exitCode1), "code-1", expect{state: Zombie, reason: ReasonCrashed, acts: actCheckGone})
	add(Running, exited(exitKilled), "killed", expect{state: Zombie, reason: ReasonCrashed, acts: actCheckGone})
	add(Running, exited(exitCore), "core-dumped", expect{state: Zombie, reason: ReasonCrashed, acts: actCheckGone})
	add(Running, unknown, "unknown", expect{state: Zombie, reason: ReasonUnknownExit, acts: actCheckGone})
	add(Running, asked, "asked-elsewhere", expect{state: Zombie, reason: ReasonRequestedElsewhere, acts: actCheckGone})
	add(Running, gone, "", expect{state: Running})
	add(Running, adopt(Running), "", expect{state: Running})

	// Stopping: a start waits for the exit; the exit carries the stop's
	// reason.
	add(Stopping, start, "", expect{state: Stopping, queued: true})
	add(Stopping, restart, "", expect{state: Stopping, queued: true})
	add(Stopping, stop, "", expect{state: Stopping})
	add(Stopping, force, "", expect{state: Stopping, acts: actKill})
	add(Stopping, spawned, "", expect{state: Stopping})
	add(Stopping, failed, "", expect{state: Stopping})
	add(Stopping, beat, "", expect{state: Stopping})
	add(Stopping, quit, "", expect{state: Stopping})
	add(Stopping, ready, "", expect{state: Stopping})
	add(Stopping, exited(exitCode0), "code-0", expect{state: Zombie, reason: ReasonRequested, acts: actCheckGone})
	add(Stopping, exited(exitKilled), "killed", expect{state: Zombie, reason: ReasonRequested, acts: actCheckGone})
	add(Stopping, unknown, "unknown", expect{state: Zombie, reason: ReasonRequested, acts: actCheckGone})
	add(Stopping, gone, "", expect{state: Stopped, reason: ReasonRequested, acts: actRemoveFiles})
	add(Stopping, adopt(Running), "", expect{state: Stopping})

	// Zombie: leftovers hold the lock; a start is refused, a stop signals
	// them, gone ends it, a new instance of another controller is adopted.
	add(Zombie, start, "", expect{state: Zombie, err: ErrZombie})
	add(Zombie, restart, "", expect{state: Stopping, reason: ReasonRequested, acts: actSignalStop, queued: true})
	add(Zombie, stop, "", expect{state: Stopping, reason: ReasonRequested, acts: actSignalStop})
	add(Zombie, force, "", expect{state: Stopping, reason: ReasonRequested, acts: actKill})
	add(Zombie, spawned, "", expect{state: Zombie})
	add(Zombie, failed, "", expect{state: Zombie})
	add(Zombie, beat, "", expect{state: Zombie})
	add(Zombie, quit, "", expect{state: Zombie})
	add(Zombie, ready, "", expect{state: Zombie})
	add(Zombie, exited(exitCode1), "", expect{state: Zombie})
	add(Zombie, gone, "", expect{state: Stopped, reason: ReasonCrashed, acts: actRemoveFiles})
	add(Zombie, adopt(Running), "new-instance", expect{state: Running, reason: ReasonAdopted})
	add(Zombie, adopt(Starting), "new-instance-starting", expect{state: Starting, reason: ReasonAdopted})
	add(Zombie, adopt(Zombie), "", expect{state: Zombie})
	return rows
}

func TestStepTable(t *testing.T) {
	t.Parallel()
	for _, c := range stepTable() {
		t.Run(c.name(), func(t *testing.T) {
			m, r := step(at(c.from), c.in, t0)
			got := expect{state: m.state, acts: r.acts, err: r.err, queued: m.queued}
			if r.event {
				got.reason, got.note = r.reason, r.note != ReasonNone
			}
			if !errors.Is(got.err, c.want.err) || got.err == nil != (c.want.err == nil) {
				t.Fatalf("err %v, want %v", got.err, c.want.err)
			}
			got.err, c.want.err = nil, nil
			if got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
			if r.err != nil && m != at(c.from) {
				t.Errorf("a refused request changed the machine: %+v", m)
			}
		})
	}
}

// The table covers every state × every input but the tick.
func TestStepTableComplete(t *testing.T) {
	t.Parallel()
	seen := map[State]map[inputKind]bool{}
	for _, c := range stepTable() {
		if seen[c.from] == nil {
			seen[c.from] = map[inputKind]bool{}
		}
		seen[c.from][c.in.kind] = true
	}
	for s := range numStates {
		for k := range numInputs {
			if k == inTick {
				continue
			}
			if !seen[s][k] {
				t.Errorf("no row for %v × %v", s, k)
			}
		}
	}
}

// A start runs its course: the spawn moves it, with the start's reason,
// and sets the StartSecs deadline from the spawn's time; a failed spawn is
// a note and leaves nothing queued.
func TestStepSpawn(t *testing.T) {
	t.Parallel()
	m, r := step(at(Stopped), input{kind: inStart, reason: ReasonBackoff}, t0)
	if r.acts != actSpawn || r.event {
		t.Fatalf("start: %+v", r)
	}
	t1 := t0.Add(time.Minute)
	ok, r := step(m, input{kind: inSpawned}, t1)
	if ok.state != Starting || !r.event || r.reason != ReasonBackoff || ok.queued || !ok.confirmAt.Equal(t1.Add(tStartSecs)) || !ok.since.Equal(t1) {
		t.Fatalf("spawned: %+v %+v", ok, r)
	}
	bad, r := step(m, input{kind: inSpawnFailed, err: errors.New("x")}, t1)
	if bad.state != Stopped || !r.event || r.note != ReasonStartFailed || bad.queued {
		t.Fatalf("spawn failed: %+v %+v", bad, r)
	}
}

// Deadlines, on a fake clock: StartSecs, StopTimeout and the watchdog
// each fire exactly when due, never before, and only once.
func TestStepDeadlines(t *testing.T) {
	t.Parallel()
	tick := func(m machine, at time.Time) (machine, result) { return step(m, input{kind: inTick}, at) }

	t.Run("start-secs", func(t *testing.T) {
		m := at(Starting)
		if got := m.deadline(); !got.Equal(t0.Add(tStartSecs)) {
			t.Fatalf("deadline %v", got)
		}
		if m2, r := tick(m, t0.Add(tStartSecs-time.Nanosecond)); m2.state != Starting || r.event {
			t.Fatalf("confirmed early: %+v", m2)
		}
		m2, r := tick(m, t0.Add(tStartSecs))
		if m2.state != Running || r.reason != ReasonReady || !m2.deadline().IsZero() {
			t.Fatalf("at StartSecs: %+v %+v", m2, r)
		}
	})
	t.Run("ready-mode-waits", func(t *testing.T) {
		m := at(Starting)
		m.needReady = true
		if !m.deadline().IsZero() {
			t.Fatalf("deadline %v with readiness", m.deadline())
		}
		if m2, _ := tick(m, t0.Add(time.Hour)); m2.state != Starting {
			t.Fatalf("confirmed by time with readiness: %v", m2.state)
		}
	})
	t.Run("negative-start-secs", func(t *testing.T) {
		m, _ := step(at(Stopped), input{kind: inStart}, t0)
		m.startSecs = -1
		m, _ = step(m, input{kind: inSpawned}, t0)
		if m2, _ := tick(m, t0); m2.state != Running {
			t.Fatalf("StartSecs < 0: %v at the first tick", m2.state)
		}
	})
	t.Run("adopted-young", func(t *testing.T) {
		started := t0.Add(-300 * time.Millisecond)
		m, r := step(at(Stopped), input{kind: inAdopt, to: Starting, at: started}, t0)
		if m.state != Starting || r.reason != ReasonAdopted || !m.deadline().Equal(started.Add(tStartSecs)) {
			t.Fatalf("adopted: %+v", m)
		}
	})
	t.Run("stop-timeout", func(t *testing.T) {
		m, r := step(at(Running), input{kind: inStop}, t0)
		if r.acts != actSignalStop || !m.deadline().Equal(t0.Add(tStopTimeout)) {
			t.Fatalf("stop: %+v %+v", m, r)
		}
		if _, r := tick(m, t0.Add(tStopTimeout-time.Nanosecond)); r.acts != 0 {
			t.Fatalf("killed early: %+v", r)
		}
		m, r = tick(m, t0.Add(tStopTimeout))
		if r.acts != actKill || !m.killed || !m.timedOut || !m.deadline().IsZero() {
			t.Fatalf("at StopTimeout: %+v %+v", m, r)
		}
		if _, r := tick(m, t0.Add(2*tStopTimeout)); r.acts != 0 {
			t.Fatalf("killed twice: %+v", r)
		}
		m, r = step(m, input{kind: inExited, exit: exitKilled, known: true}, t0.Add(tStopTimeout))
		if m.state != Zombie || r.reason != ReasonStopTimeout || r.exit != exitKilled {
			t.Fatalf("exit after the kill: %+v %+v", m, r)
		}
		m, r = step(m, input{kind: inGone}, t0.Add(tStopTimeout))
		if m.state != Stopped || r.reason != ReasonStopTimeout {
			t.Fatalf("gone: %+v %+v", m, r)
		}
	})
	t.Run("force-stop-has-no-deadline", func(t *testing.T) {
		m, r := step(at(Running), input{kind: inForceStop}, t0)
		if r.acts != actKill || !m.deadline().IsZero() {
			t.Fatalf("force-stop: %+v %+v", m, r)
		}
		m, r = step(m, input{kind: inExited, exit: exitKilled, known: true}, t0)
		if r.reason != ReasonRequested {
			t.Fatalf("exit after a force-stop: %v", r.reason)
		}
	})
	t.Run("watchdog", func(t *testing.T) {
		m := at(Running)
		m.watchdog = tWatchdog
		m, _ = step(m, input{kind: inBeat}, t0.Add(time.Second))
		if !m.deadline().Equal(t0.Add(time.Second + tWatchdog)) {
			t.Fatalf("deadline %v after a beat", m.deadline())
		}
		if m2, r := tick(m, t0.Add(time.Second+tWatchdog-time.Nanosecond)); m2.state != Running || r.event {
			t.Fatalf("watchdog early: %+v", m2)
		}
		m2, r := tick(m, t0.Add(time.Second+tWatchdog))
		if m2.state != Stopping || r.reason != ReasonWatchdog || r.acts != actSignalStop || m2.queued {
			t.Fatalf("watchdog: %+v %+v", m2, r)
		}
		m.selfRestart = true
		if m3, _ := tick(m, t0.Add(time.Second+tWatchdog)); !m3.queued || m3.queuedWhy != ReasonWatchdog {
			t.Fatalf("a lone daemon's watchdog stop does not restart: %+v", m3)
		}
		// A hung daemon that also ignores SIGTERM: the kill at StopTimeout
		// does not turn the watchdog stop into one that was asked for.
		m4, _ := tick(m2, t0.Add(time.Second+tWatchdog+tStopTimeout))
		m4, r4 := step(m4, input{kind: inExited, exit: exitKilled, known: true}, t0.Add(time.Second+tWatchdog+tStopTimeout))
		m4, r5 := step(m4, input{kind: inGone}, t0.Add(time.Second+tWatchdog+tStopTimeout))
		if m4.state != Stopped || r4.reason != ReasonWatchdog || r5.reason != ReasonWatchdog {
			t.Fatalf("watchdog stop ended by SIGKILL: %v then %v (%+v)", r4.reason, r5.reason, m4)
		}
		m.quitting = true
		if !m.deadline().IsZero() {
			t.Fatal("STOPPING=1 did not hold the watchdog off")
		}
	})
	t.Run("restart-queued-spawns-when-gone", func(t *testing.T) {
		m, _ := step(at(Running), input{kind: inRestart, reason: ReasonRequestedElsewhere}, t0)
		m, _ = step(m, input{kind: inExited, exit: exitCode0, known: true}, t0)
		m, r := step(m, input{kind: inGone}, t0)
		if m.state != Stopped || r.acts != actSpawn || r.reason != ReasonRequestedElsewhere {
			t.Fatalf("gone with a restart queued: %+v %+v", m, r)
		}
		m, r = step(m, input{kind: inSpawned}, t0)
		if m.state != Starting || r.reason != ReasonRequestedElsewhere {
			t.Fatalf("restarted: %+v %+v", m, r)
		}
	})
	t.Run("stop-cancels-a-queued-start", func(t *testing.T) {
		m, _ := step(at(Stopping), input{kind: inStart}, t0)
		m, _ = step(m, input{kind: inStop}, t0)
		m, _ = step(m, input{kind: inExited, exit: exitCode0, known: true}, t0)
		if _, r := step(m, input{kind: inGone}, t0); r.acts&actSpawn != 0 {
			t.Fatal("spawned after a stop")
		}
	})
}

// allInputs lists one input of each kind, and variants.
func allInputs() []input {
	return []input{{kind: inStart}, {kind: inRestart}, {kind: inStop}, {kind: inForceStop},
		{kind: inSpawned}, {kind: inSpawnFailed, err: errors.New("x")}, {kind: inTick}, {kind: inReady},
		{kind: inBeat}, {kind: inQuitting}, {kind: inExited, exit: exitCode0, known: true},
		{kind: inExited, exit: exitCode1, known: true}, {kind: inExited}, {kind: inExited, asked: true},
		{kind: inGone}, {kind: inAdopt, to: Starting, at: t0}, {kind: inAdopt, to: Running, at: t0},
		{kind: inAdopt, to: Zombie}}
}

// checkStep lists what is wrong with one step, whatever the input.
func checkStep(before machine, in input, after machine, r result) []string {
	var bad []string
	if after.state >= numStates {
		bad = append(bad, "no such state")
	}
	if r.event && r.reason == ReasonNone {
		bad = append(bad, "an event without a reason")
	}
	if (after.state != before.state) != (r.event && r.note == ReasonNone) {
		bad = append(bad, "the state changed without an event, or an event without a change")
	}
	if r.err != nil && (after.state != before.state || r.acts != 0) {
		bad = append(bad, "a refusal that did something")
	}
	if r.acts&actSpawn != 0 && after.state != Stopped {
		bad = append(bad, "a spawn asked for outside Stopped")
	}
	if r.acts&actSignalStop != 0 && after.state != Stopping {
		bad = append(bad, "a stop signal outside Stopping")
	}
	if r.acts&actKill != 0 && after.state != Stopping && after.state != Zombie {
		bad = append(bad, "a kill outside Stopping and a Zombie being stopped")
	}
	if after.state == Stopped && !after.deadline().IsZero() {
		bad = append(bad, "a deadline in Stopped")
	}
	if before.state == Stopped && after.state == Running && in.kind != inAdopt {
		bad = append(bad, "stopped → running other than by adoption")
	}
	if after.state == Zombie && before.state != Zombie && r.acts&actCheckGone == 0 && in.kind != inAdopt {
		bad = append(bad, "an exit without a look at the lock")
	}
	return bad
}

func TestStepInvariants(t *testing.T) {
	t.Parallel()
	for s := range numStates {
		for _, in := range allInputs() {
			for _, now := range []time.Time{t0, t0.Add(time.Hour)} {
				m, r := step(at(s), in, now)
				for _, b := range checkStep(at(s), in, m, r) {
					t.Errorf("%v × %v at +%v: %s", s, in.kind, now.Sub(t0), b)
				}
			}
		}
	}
}

// FuzzStep feeds random sequences of inputs at random times, as a driver
// would, and checks the invariants after each step, and that a daemon
// asked to stop and gone ends Stopped with nothing queued.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0, 4, 6, 10, 14}, int64(1))
	f.Add([]byte{0, 4, 1, 10, 14, 4, 2, 12, 14}, int64(2))
	f.Add([]byte{15, 2, 6, 6, 10, 14}, int64(3))
	f.Fuzz(func(t *testing.T, seq []byte, seed int64) {
		ins := allInputs()
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		m := at(Stopped)
		m.watchdog = time.Duration(seed%3) * time.Second
		m.needReady = seed%2 == 0
		now := t0
		for i, b := range seq {
			in := ins[int(b)%len(ins)]
			now = now.Add(time.Duration(rng.IntN(4000)) * time.Millisecond)
			m2, r := step(m, in, now)
			for _, bad := range checkStep(m, in, m2, r) {
				t.Fatalf("step %d: %v × %v: %s", i, m.state, in.kind, bad)
			}
			m = m2
		}
	})
}

func TestStateString(t *testing.T) {
	t.Parallel()
	want := map[State]string{
		Stopped:  "stopped",
		Starting: "starting",
		Running:  "running",
		Stopping: "stopping",
		Zombie:   "zombie",
	}
	seen := map[string]State{}
	for s := range numStates {
		got := s.String()
		if w, ok := want[s]; !ok {
			t.Errorf("State(%d).String() = %q, want a name in this test", s, got)
		} else if got != w {
			t.Errorf("State(%d).String() = %q, want %q", s, got, w)
		}
		checkName(t, fmt.Sprintf("State(%d)", s), got)
		if prev, dup := seen[got]; dup {
			t.Errorf("State(%d) and State(%d) are both %q", prev, s, got)
		}
		seen[got] = s
	}
	for _, s := range []State{numStates, numStates + 1, 255} {
		if got, w := s.String(), fmt.Sprintf("state(%d)", s); got != w {
			t.Errorf("State(%d).String() = %q, want %q", s, got, w)
		}
	}
}

func TestReasonString(t *testing.T) {
	t.Parallel()
	want := map[Reason]string{
		ReasonNone:        "none",
		ReasonRequested:   "requested",
		ReasonReady:       "ready",
		ReasonExited:      "exited",
		ReasonCrashed:     "crashed",
		ReasonStartFailed: "start-failed",
		ReasonStopTimeout: "stop-timeout",
		ReasonBackoff:     "backoff",
		ReasonGaveUp:      "gave-up",
		ReasonDisabled:    "disabled",
		ReasonAdopted:     "adopted",
		ReasonWatchdog:    "watchdog",

		ReasonRequestedElsewhere: "requested-elsewhere",
		ReasonUnknownExit:        "unknown-exit",
	}
	seen := map[string]Reason{}
	for r := range numReasons {
		got := r.String()
		if w, ok := want[r]; !ok {
			t.Errorf("Reason(%d).String() = %q, want a name in this test", r, got)
		} else if got != w {
			t.Errorf("Reason(%d).String() = %q, want %q", r, got, w)
		}
		checkName(t, fmt.Sprintf("Reason(%d)", r), got)
		if prev, dup := seen[got]; dup {
			t.Errorf("Reason(%d) and Reason(%d) are both %q", prev, r, got)
		}
		seen[got] = r
	}
	for _, r := range []Reason{numReasons, numReasons + 1, 255} {
		if got, w := r.String(), fmt.Sprintf("reason(%d)", r); got != w {
			t.Errorf("Reason(%d).String() = %q, want %q", r, got, w)
		}
	}
}

func TestStepInputNames(t *testing.T) {
	t.Parallel()
	seen := map[string]inputKind{}
	for k := range numInputs {
		got := k.String()
		checkName(t, fmt.Sprintf("inputKind(%d)", k), got)
		if prev, dup := seen[got]; dup {
			t.Errorf("inputKind(%d) and inputKind(%d) are both %q", prev, k, got)
		}
		seen[got] = k
	}
}

// checkName fails unless name is a non-empty lower-case, hyphenated word.
func checkName(t *testing.T, what, name string) {
	t.Helper()
	if name == "" {
		t.Errorf("%s has an empty name", what)
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && r != '-' {
			t.Errorf("%s name %q: want lower-case letters and hyphens only", what, name)
			break
		}
	}
	if strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") {
		t.Errorf("%s name %q: starts or ends with a hyphen", what, name)
	}
}
