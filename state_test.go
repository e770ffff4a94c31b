package launcher

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Exit statuses fed with inExited.
var (
	exitUnknown *ExitStatus // an adopted process: its status cannot be known
	exitCode0   = &ExitStatus{Code: 0}
	exitCode1   = &ExitStatus{Code: 1}
	exitKilled  = &ExitStatus{Code: -1, Signal: syscall.SIGKILL}
	exitCore    = &ExitStatus{Code: -1, Signal: syscall.SIGSEGV, CoreDumped: true}
)

// exitVariants names the exit statuses every state is tested with.
var exitVariants = []struct {
	name string
	exit *ExitStatus
}{
	{"unknown", exitUnknown},
	{"code-0", exitCode0},
	{"code-1", exitCode1},
	{"killed", exitKilled},
	{"core-dumped", exitCore},
}

// stepCase is one row of the transition table: from × input → want.
type stepCase struct {
	from    State
	in      input
	variant string // distinguishes rows of one cell: "code-1", "escalated/killed"
	want    transition
}

func (c stepCase) name() string {
	n := c.from.String() + "/" + c.in.kind.String()
	if c.variant != "" {
		n += "/" + c.variant
	}
	return n
}

// stepTable is the whole state machine written out by hand: every state ×
// every input, with the variants of inExited and inGone. It is the
// specification step is checked against; do not generate it from step.
func stepTable() []stepCase {
	start := input{kind: inStart}
	confirm := input{kind: inConfirm}
	stop := input{kind: inStop}
	force := input{kind: inForceStop}
	timeout := input{kind: inStopTimeout}
	adoptRunning := input{kind: inAdoptRunning}
	adoptZombie := input{kind: inAdoptZombie}
	exited := func(e *ExitStatus) input { return input{kind: inExited, exit: e} }
	exitedEsc := func(e *ExitStatus) input { return input{kind: inExited, exit: e, escalated: true} }
	gone := func(r Reason) input { return input{kind: inGone, reason: r} }
	goneEsc := func(r Reason) input { return input{kind: inGone, reason: r, escalated: true} }

	return []stepCase{
		// Stopped: only a start or an adoption moves it.
		{from: Stopped, in: start, want: transition{to: Starting, reason: ReasonRequested, acts: actSpawn, event: true}},
		{from: Stopped, in: confirm, want: transition{to: Stopped}},
		{from: Stopped, in: stop, want: transition{to: Stopped}},
		{from: Stopped, in: force, want: transition{to: Stopped}},
		{from: Stopped, in: timeout, want: transition{to: Stopped}},
		{from: Stopped, in: exited(exitUnknown), variant: "unknown", want: transition{to: Stopped}},
		{from: Stopped, in: exited(exitCode0), variant: "code-0", want: transition{to: Stopped}},
		{from: Stopped, in: exited(exitCode1), variant: "code-1", want: transition{to: Stopped}},
		{from: Stopped, in: exited(exitKilled), variant: "killed", want: transition{to: Stopped}},
		{from: Stopped, in: exited(exitCore), variant: "core-dumped", want: transition{to: Stopped}},
		{from: Stopped, in: gone(ReasonCrashed), want: transition{to: Stopped}},
		{from: Stopped, in: adoptRunning, want: transition{to: Running, reason: ReasonAdopted, event: true}},
		{from: Stopped, in: adoptZombie, want: transition{to: Zombie, reason: ReasonAdopted, event: true}},

		// Starting: any exit is a failed start.
		{from: Starting, in: start, want: transition{to: Starting}},
		{from: Starting, in: confirm, want: transition{to: Running, reason: ReasonReady, event: true}},
		{from: Starting, in: stop, want: transition{to: Stopping, reason: ReasonRequested, acts: actSignalStop, event: true}},
		{from: Starting, in: force, want: transition{to: Stopping, reason: ReasonRequested, acts: actKill, event: true}},
		{from: Starting, in: timeout, want: transition{to: Starting}},
		{from: Starting, in: exited(exitUnknown), variant: "unknown", want: transition{to: Zombie, reason: ReasonStartFailed, event: true}},
		{from: Starting, in: exited(exitCode0), variant: "code-0", want: transition{to: Zombie, reason: ReasonStartFailed, event: true}},
		{from: Starting, in: exited(exitCode1), variant: "code-1", want: transition{to: Zombie, reason: ReasonStartFailed, event: true}},
		{from: Starting, in: exited(exitKilled), variant: "killed", want: transition{to: Zombie, reason: ReasonStartFailed, event: true}},
		{from: Starting, in: exited(exitCore), variant: "core-dumped", want: transition{to: Zombie, reason: ReasonStartFailed, event: true}},
		{from: Starting, in: gone(ReasonCrashed), want: transition{to: Starting}},
		{from: Starting, in: adoptRunning, want: transition{to: Starting}},
		{from: Starting, in: adoptZombie, want: transition{to: Starting}},

		// Running: a clean or unknown exit is "exited", anything else "crashed".
		{from: Running, in: start, want: transition{to: Running}},
		{from: Running, in: confirm, want: transition{to: Running}},
		{from: Running, in: stop, want: transition{to: Stopping, reason: ReasonRequested, acts: actSignalStop, event: true}},
		{from: Running, in: force, want: transition{to: Stopping, reason: ReasonRequested, acts: actKill, event: true}},
		{from: Running, in: timeout, want: transition{to: Running}},
		{from: Running, in: exited(exitUnknown), variant: "unknown", want: transition{to: Zombie, reason: ReasonExited, event: true}},
		{from: Running, in: exited(exitCode0), variant: "code-0", want: transition{to: Zombie, reason: ReasonExited, event: true}},
		{from: Running, in: exited(exitCode1), variant: "code-1", want: transition{to: Zombie, reason: ReasonCrashed, event: true}},
		{from: Running, in: exited(exitKilled), variant: "killed", want: transition{to: Zombie, reason: ReasonCrashed, event: true}},
		{from: Running, in: exited(exitCore), variant: "core-dumped", want: transition{to: Zombie, reason: ReasonCrashed, event: true}},
		{from: Running, in: gone(ReasonCrashed), want: transition{to: Running}},
		{from: Running, in: adoptRunning, want: transition{to: Running}},
		{from: Running, in: adoptZombie, want: transition{to: Running}},

		// Stopping: requests are absorbed (a start is queued by the driver);
		// the exit is "requested", or "stop-timeout" once SIGKILL was sent.
		{from: Stopping, in: start, want: transition{to: Stopping}},
		{from: Stopping, in: confirm, want: transition{to: Stopping}},
		{from: Stopping, in: stop, want: transition{to: Stopping}},
		{from: Stopping, in: force, want: transition{to: Stopping, acts: actKill}},
		{from: Stopping, in: timeout, want: transition{to: Stopping, acts: actKill}},
		{from: Stopping, in: exited(exitUnknown), variant: "unknown", want: transition{to: Zombie, reason: ReasonRequested, event: true}},
		{from: Stopping, in: exited(exitCode0), variant: "code-0", want: transition{to: Zombie, reason: ReasonRequested, event: true}},
		{from: Stopping, in: exited(exitCode1), variant: "code-1", want: transition{to: Zombie, reason: ReasonRequested, event: true}},
		{from: Stopping, in: exited(exitKilled), variant: "killed", want: transition{to: Zombie, reason: ReasonRequested, event: true}},
		{from: Stopping, in: exited(exitCore), variant: "core-dumped", want: transition{to: Zombie, reason: ReasonRequested, event: true}},
		{from: Stopping, in: exitedEsc(exitUnknown), variant: "escalated/unknown", want: transition{to: Zombie, reason: ReasonStopTimeout, event: true}},
		{from: Stopping, in: exitedEsc(exitCode0), variant: "escalated/code-0", want: transition{to: Zombie, reason: ReasonStopTimeout, event: true}},
		{from: Stopping, in: exitedEsc(exitKilled), variant: "escalated/killed", want: transition{to: Zombie, reason: ReasonStopTimeout, event: true}},
		// In Stopping, in.reason is ignored: the stop decides the reason.
		{from: Stopping, in: gone(ReasonCrashed), want: transition{to: Stopped, reason: ReasonRequested, acts: actRemoveFiles, event: true}},
		{from: Stopping, in: goneEsc(ReasonCrashed), variant: "escalated", want: transition{to: Stopped, reason: ReasonStopTimeout, acts: actRemoveFiles, event: true}},
		{from: Stopping, in: adoptRunning, want: transition{to: Stopping}},
		{from: Stopping, in: adoptZombie, want: transition{to: Stopping}},

		// Zombie: Start is refused; stops signal the leftovers; gone passes
		// the reason of the exit through.
		{from: Zombie, in: start, want: transition{to: Zombie, err: ErrZombie}},
		{from: Zombie, in: confirm, want: transition{to: Zombie}},
		{from: Zombie, in: stop, want: transition{to: Stopping, reason: ReasonRequested, acts: actSignalStop, event: true}},
		{from: Zombie, in: force, want: transition{to: Stopping, reason: ReasonRequested, acts: actKill, event: true}},
		{from: Zombie, in: timeout, want: transition{to: Zombie, acts: actKill}},
		{from: Zombie, in: exited(exitUnknown), variant: "unknown", want: transition{to: Zombie}},
		{from: Zombie, in: exited(exitCode0), variant: "code-0", want: transition{to: Zombie}},
		{from: Zombie, in: exited(exitCode1), variant: "code-1", want: transition{to: Zombie}},
		{from: Zombie, in: exited(exitKilled), variant: "killed", want: transition{to: Zombie}},
		{from: Zombie, in: exited(exitCore), variant: "core-dumped", want: transition{to: Zombie}},
		{from: Zombie, in: gone(ReasonExited), variant: "exited", want: transition{to: Stopped, reason: ReasonExited, acts: actRemoveFiles, event: true}},
		{from: Zombie, in: gone(ReasonCrashed), variant: "crashed", want: transition{to: Stopped, reason: ReasonCrashed, acts: actRemoveFiles, event: true}},
		{from: Zombie, in: gone(ReasonStartFailed), variant: "start-failed", want: transition{to: Stopped, reason: ReasonStartFailed, acts: actRemoveFiles, event: true}},
		{from: Zombie, in: gone(ReasonRequested), variant: "requested", want: transition{to: Stopped, reason: ReasonRequested, acts: actRemoveFiles, event: true}},
		{from: Zombie, in: gone(ReasonStopTimeout), variant: "stop-timeout", want: transition{to: Stopped, reason: ReasonStopTimeout, acts: actRemoveFiles, event: true}},
		{from: Zombie, in: gone(ReasonAdopted), variant: "adopted", want: transition{to: Stopped, reason: ReasonAdopted, acts: actRemoveFiles, event: true}},
		// In Zombie, escalated is ignored: the exit's reason stands.
		{from: Zombie, in: goneEsc(ReasonRequested), variant: "escalated/requested", want: transition{to: Stopped, reason: ReasonRequested, acts: actRemoveFiles, event: true}},
		{from: Zombie, in: adoptRunning, want: transition{to: Zombie}},
		{from: Zombie, in: adoptZombie, want: transition{to: Zombie}},
	}
}

func TestStepTable(t *testing.T) {
	t.Parallel()
	table := stepTable()

	// Every cell has a row, so a new state or input fails here until the
	// table says what it does; and inExited is covered with every exit
	// status in every state.
	type cell struct {
		s State
		k inputKind
	}
	rows := map[cell]int{}
	names := map[string]bool{}
	exits := map[State]map[*ExitStatus]bool{}
	for _, c := range table {
		if c.from >= numStates || c.in.kind >= numInputs {
			t.Fatalf("row for state %d input %d: out of range", c.from, c.in.kind)
		}
		if names[c.name()] {
			t.Errorf("two rows named %s", c.name())
		}
		names[c.name()] = true
		rows[cell{c.from, c.in.kind}]++
		if c.in.kind == inExited && !c.in.escalated {
			if exits[c.from] == nil {
				exits[c.from] = map[*ExitStatus]bool{}
			}
			exits[c.from][c.in.exit] = true
		}
	}
	for s := range numStates {
		for k := range numInputs {
			if rows[cell{s, k}] == 0 {
				t.Errorf("no table row for %v/%v", s, k)
			}
		}
		for _, v := range exitVariants {
			if !exits[s][v.exit] {
				t.Errorf("no table row for %v/exited/%s", s, v.name)
			}
		}
	}

	opts := []cmp.Option{cmp.AllowUnexported(transition{}), cmpopts.EquateErrors()}
	for _, c := range table {
		t.Run(c.name(), func(t *testing.T) {
			t.Parallel()
			got := step(c.from, c.in)
			if diff := cmp.Diff(c.want, got, opts...); diff != "" {
				t.Errorf("step(%v, %s):\ngot  %s\nwant %s\ndiff (-want +got):\n%s",
					c.from, fmtInput(c.in), fmtTransition(got), fmtTransition(c.want), diff)
			}
		})
	}
}

// allInputs returns every input kind with every exit status, escalated or
// not, and every reason: more than a driver sends, so that the invariants
// hold whatever the extra fields say.
func allInputs() []input {
	var ins []input
	for k := range numInputs {
		for _, v := range exitVariants {
			for _, esc := range []bool{false, true} {
				for r := range numReasons {
					ins = append(ins, input{kind: k, exit: v.exit, escalated: esc, reason: r})
				}
			}
		}
	}
	return ins
}

// checkInvariants reports what is wrong with step(from, in) == tr, or "".
// These hold for every cell, whatever the table says.
func checkInvariants(from State, in input, tr transition) []string {
	var bad []string
	fail := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }
	if tr.to >= numStates {
		fail("to %v is not a state", tr.to)
	}
	// An event happens iff the state changes.
	if tr.event != (tr.to != from) {
		fail("event %v with %v → %v", tr.event, from, tr.to)
	}
	if tr.event && tr.reason == ReasonNone && !(from == Zombie && in.kind == inGone && in.reason == ReasonNone) {
		fail("event with reason none")
	}
	if !tr.event && tr.reason != ReasonNone {
		fail("reason %v without an event", tr.reason)
	}
	// A refusal is only Start on a Zombie, and changes nothing.
	if tr.err != nil {
		if from != Zombie || in.kind != inStart {
			fail("err %v outside zombie/start", tr.err)
		}
		if tr.to != from || tr.acts != 0 || tr.event {
			fail("refusal with a transition: %s", fmtTransition(tr))
		}
	} else if from == Zombie && in.kind == inStart {
		fail("start on a zombie not refused")
	}
	if tr.acts&actSpawn != 0 && (from != Stopped || tr.to != Starting) {
		fail("spawn on %v → %v", from, tr.to)
	}
	if tr.acts&actRemoveFiles != 0 && (tr.to != Stopped || from == Stopped) {
		fail("files removed on %v → %v", from, tr.to)
	}
	if tr.to == Stopped && from != Stopped && tr.acts&actRemoveFiles == 0 {
		fail("%v → stopped keeps the files", from)
	}
	if tr.acts&(actSignalStop|actKill) != 0 && from == Stopped {
		fail("signal with no process: %s", fmtTransition(tr))
	}
	if tr.acts&actSignalStop != 0 && tr.acts&actKill != 0 {
		fail("both stop signal and kill")
	}
	// Running is entered only by confirmation or adoption.
	if tr.to == Running && from != Running &&
		!(from == Starting && in.kind == inConfirm) && !(from == Stopped && in.kind == inAdoptRunning) {
		fail("%v → running on %v", from, in.kind)
	}
	// Stopped is left only by a start or an adoption.
	if from == Stopped && tr.to != Stopped &&
		!(in.kind == inStart && tr.to == Starting) &&
		!(in.kind == inAdoptRunning && tr.to == Running) &&
		!(in.kind == inAdoptZombie && tr.to == Zombie) {
		fail("stopped → %v on %v", tr.to, in.kind)
	}
	// Zombie is entered only by an exit or an adoption.
	if tr.to == Zombie && from != Zombie && in.kind != inExited && in.kind != inAdoptZombie {
		fail("%v → zombie on %v", from, in.kind)
	}
	// Stopped is entered only when nothing is left, from Zombie or Stopping.
	if tr.to == Stopped && from != Stopped && (in.kind != inGone || (from != Zombie && from != Stopping)) {
		fail("%v → stopped on %v", from, in.kind)
	}
	return bad
}

func TestStepInvariants(t *testing.T) {
	t.Parallel()
	reported := map[string]bool{} // one report per state, input kind and fault
	for s := range numStates {
		for _, in := range allInputs() {
			tr := step(s, in)
			for _, msg := range checkInvariants(s, in, tr) {
				if key := s.String() + "/" + in.kind.String() + ": " + msg; !reported[key] {
					reported[key] = true
					t.Errorf("step(%v, %s) = %s: %s", s, fmtInput(in), fmtTransition(tr), msg)
				}
			}
		}
	}
	// The table rows too, in case they hold something allInputs lacks.
	for _, c := range stepTable() {
		tr := step(c.from, c.in)
		for _, msg := range checkInvariants(c.from, c.in, tr) {
			t.Errorf("%s: step = %s: %s", c.name(), fmtTransition(tr), msg)
		}
	}
}

// fuzzInput decodes one byte into an input: the kind is b % numInputs; the
// rest chooses the exit status and escalated. The reason of inGone is the
// one a driver passes: that of the last exit.
func fuzzInput(b byte, exitReason Reason) input {
	k := inputKind(b % byte(numInputs))
	v := int(b / byte(numInputs))
	return input{
		kind:      k,
		exit:      exitVariants[v%len(exitVariants)].exit,
		escalated: (v/len(exitVariants))%2 == 1,
		reason:    exitReason,
	}
}

// fuzzByte encodes kind k with variant v (an index into exitVariants, plus
// len(exitVariants) for escalated) for the seed corpus.
func fuzzByte(k inputKind, v int) byte { return byte(k) + byte(v)*byte(numInputs) }

func FuzzStep(f *testing.F) {
	esc := len(exitVariants) // variant offset for escalated
	seeds := [][]inputKind{
		{},
		{inStart, inConfirm, inExited, inGone},
		{inStart, inConfirm, inStop, inExited, inGone},
		{inStart, inConfirm, inStop, inStopTimeout, inExited, inGone},
		{inStart, inExited, inStart, inGone, inStart},
		{inAdoptZombie, inStart, inStop, inStopTimeout, inGone, inAdoptRunning, inForceStop, inExited, inGone},
		{inStart, inStop, inStart, inStop, inForceStop, inExited, inStart, inGone, inStart},
	}
	for _, seed := range seeds {
		var b []byte
		for i, k := range seed {
			b = append(b, fuzzByte(k, i%len(exitVariants)))
		}
		f.Add(b)
	}
	// Every input in every reachable state, with escalation.
	f.Add([]byte{fuzzByte(inStart, 0), fuzzByte(inConfirm, 0), fuzzByte(inStop, 0),
		fuzzByte(inStopTimeout, 0), fuzzByte(inExited, esc+3), fuzzByte(inStopTimeout, 0),
		fuzzByte(inGone, esc), fuzzByte(inAdoptRunning, 0), fuzzByte(inExited, 2),
		fuzzByte(inForceStop, 0), fuzzByte(inGone, 0)})

	f.Fuzz(func(t *testing.T, data []byte) {
		s := Stopped
		exitReason := ReasonNone // the reason of the last move to Zombie
		for i, b := range data {
			in := fuzzInput(b, exitReason)
			tr := step(s, in)
			for _, msg := range checkInvariants(s, in, tr) {
				t.Fatalf("input %d: step(%v, %s) = %s: %s", i, s, fmtInput(in), fmtTransition(tr), msg)
			}
			// A driver fed the reason of the exit never makes an event
			// without a reason.
			if tr.event && tr.reason == ReasonNone {
				t.Fatalf("input %d: step(%v, %s) = %s: event with reason none", i, s, fmtInput(in), fmtTransition(tr))
			}
			if tr.err != nil {
				continue // refused: the driver stays
			}
			if tr.to == Zombie && s != Zombie {
				exitReason = tr.reason
			}
			s = tr.to
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

// fmtInput formats an input for failure messages: "exited(code 1, escalated)".
func fmtInput(in input) string {
	s := in.kind.String()
	var extra []string
	switch in.kind {
	case inExited:
		extra = append(extra, in.exit.String())
	case inGone:
		extra = append(extra, "reason "+in.reason.String())
	}
	if in.escalated {
		extra = append(extra, "escalated")
	}
	if len(extra) > 0 {
		s += "(" + strings.Join(extra, ", ") + ")"
	}
	return s
}

// fmtTransition formats a transition for failure messages.
func fmtTransition(tr transition) string {
	return fmt.Sprintf("{to: %v, reason: %v, acts: %s, event: %v, err: %v}",
		tr.to, tr.reason, fmtActs(tr.acts), tr.event, tr.err)
}

func fmtActs(a action) string {
	if a == 0 {
		return "none"
	}
	var names []string
	for _, n := range []struct {
		bit  action
		name string
	}{{actSpawn, "spawn"}, {actSignalStop, "signal-stop"}, {actKill, "kill"}, {actRemoveFiles, "remove-files"}} {
		if a&n.bit != 0 {
			names = append(names, n.name)
			a &^= n.bit
		}
	}
	if a != 0 {
		names = append(names, fmt.Sprintf("%#x", uint8(a)))
	}
	return strings.Join(names, "|")
}
