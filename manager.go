package launcher

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configures a Manager. Every field's zero value has a default.
type Options struct {
	// PIDDir and LogDir are used for specs that leave theirs empty.
	// Default: Spec's defaults.
	PIDDir, LogDir string
	// EventBuffer is the capacity of the Events channel. Events that do
	// not fit wait, in order, for a later Poll. Default: 1024.
	EventBuffer int
	// Jitter returns a number in [0, 1) that spreads backoff delays.
	// Default: math/rand/v2.Float64.
	Jitter func() float64
}

// Manager supervises many daemons: it starts them in dependency order,
// restarts the ones that end by themselves (per their Spec's Restart
// policy, with backoff, giving up on a crash loop), keeps what each daemon
// is wanted to be (up or down) on disk so that a later Manager carries on,
// and wakes its caller only when there is work.
//
// A caller's loop selects on Wake (call Poll when it fires) and Events (or
// calls Run). Like a Daemon, no method blocks; the one background
// goroutine only sends wake-ups and stops on Close. The zero value is
// ready to use, with default Options. Methods are safe for concurrent use.
type Manager struct {
	opts Options
	once sync.Once

	mu      sync.Mutex
	entries map[string]*entry
	order   []*entry // in Add order: every daemon after those it names in After
	wake    chan struct{}
	events  chan Event
	pending []Event // events the channel could not take yet
	w       *waker
	werr    error
	closed  bool
}

// entry is one supervised daemon.
type entry struct {
	d          *Daemon
	after      []*entry
	wantUp     bool
	stopQueued bool // wanted down, waiting for its dependents to stop first
	gaveUp     bool
	restarts   []time.Time // supervisor restarts within RestartWindow
	total      int         // supervisor restarts in all
	delay      time.Duration
	nextStart  time.Time // backoff: no start before this
	backingOff bool      // the next start is a supervisor restart
	upSince    time.Time // when it last became running
	fresh      bool      // added since the last Poll: an exit now happened unwatched
	watchedPID int       // the process whose pidfd the waker watches
	watchedFD  int       // that pidfd
}

// NewManager returns a Manager with opts.
func NewManager(opts Options) *Manager { return &Manager{opts: opts} }

func (m *Manager) init() {
	m.once.Do(func() {
		if m.opts.EventBuffer <= 0 {
			m.opts.EventBuffer = 1024
		}
		if m.opts.Jitter == nil {
			m.opts.Jitter = rand.Float64
		}
		m.entries = map[string]*entry{}
		m.wake = make(chan struct{}, 1)
		m.events = make(chan Event, m.opts.EventBuffer)
		m.w, m.werr = newWaker(m.wake)
	})
}

// Wake fires (a channel of capacity 1; the sender never blocks) when Poll
// has work: a daemon exited, a deadline is due, a readiness message came,
// or events are waiting for room on Events.
func (m *Manager) Wake() <-chan struct{} {
	m.init()
	return m.wake
}

// Events carries every event of every daemon, in order per daemon, none
// dropped: what does not fit waits for a later Poll. It is closed by
// Close. A program that does not read it should keep EventBuffer small
// and expect the waiting events to be kept in memory.
func (m *Manager) Events() <-chan Event {
	m.init()
	return m.events
}

// Add puts a daemon under supervision: New(spec) (adopting a running
// process of it), with the Manager's PIDDir and LogDir where spec has
// none. Every name in spec.After must have been added already. A daemon
// that the last Manager wanted up is started by the next Poll.
func (m *Manager) Add(spec Spec) error {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	fail := func(err error) error { return &Error{Op: "add", Daemon: spec.Name, Err: err} }
	switch {
	case m.closed:
		return fail(errors.New("manager is closed"))
	case m.werr != nil:
		return fail(m.werr)
	case m.entries[spec.Name] != nil:
		return fail(detail(ErrBadSpec, "already added"))
	}
	e := &entry{watchedFD: -1, fresh: true}
	for _, name := range spec.After {
		dep := m.entries[name]
		switch {
		case name == spec.Name:
			return fail(detail(ErrBadSpec, "after: names itself"))
		case dep == nil:
			return fail(detail(ErrBadSpec, "after: unknown daemon %q (add it first)", name))
		}
		e.after = append(e.after, dep)
	}
	if spec.PIDDir == "" {
		spec.PIDDir = m.opts.PIDDir
	}
	if spec.LogDir == "" {
		spec.LogDir = m.opts.LogDir
	}
	d, err := New(spec)
	if err != nil {
		return err
	}
	e.d = d
	e.wantUp, e.total = readWant(e.wantFile())
	m.entries[spec.Name] = e
	m.order = append(m.order, e)
	m.watch(e)
	m.w.signal() // the next Poll reports adoption and starts what is wanted
	return nil
}

// Remove takes a daemon out of supervision without stopping it. A daemon
// that another one names in After cannot be removed.
func (m *Manager) Remove(name string) error {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[name]
	if e == nil {
		return &Error{Op: "remove", Daemon: name, Err: detail(ErrBadSpec, "not added")}
	}
	for _, o := range m.order {
		if slices.Contains(o.after, e) {
			return &Error{Op: "remove", Daemon: name, Err: detail(ErrBadSpec, "%s runs after it", o.d.Name())}
		}
	}
	delete(m.entries, name)
	m.order = slices.DeleteFunc(m.order, func(o *entry) bool { return o == e })
	return e.d.Close()
}

// Daemon returns the named daemon, or nil.
func (m *Manager) Daemon(name string) *Daemon {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[name]; e != nil {
		return e.d
	}
	return nil
}

// Daemons returns every daemon, sorted by name.
func (m *Manager) Daemons() []*Daemon {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	ds := make([]*Daemon, 0, len(m.order))
	for _, e := range m.order {
		ds = append(ds, e.d)
	}
	slices.SortFunc(ds, func(a, b *Daemon) int { return cmpString(a.Name(), b.Name()) })
	return ds
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pick returns the named entries, or all of them in order when names is
// empty.
func (m *Manager) pick(op string, names []string) ([]*entry, error) {
	if len(names) == 0 {
		return slices.Clone(m.order), nil
	}
	var es []*entry
	for _, n := range names {
		e := m.entries[n]
		if e == nil {
			return nil, &Error{Op: op, Daemon: n, Err: detail(ErrBadSpec, "not added")}
		}
		es = append(es, e)
	}
	return es, nil
}

// Start wants the named daemons (all, with no names) up: each starts now
// if the daemons it names in After are running, or at a later Poll when
// they are. It clears a gave-up state and the backoff.
func (m *Manager) Start(names ...string) error {
	return m.each("start", names, func(e *entry, now time.Time) error {
		if !e.d.IsEnabled() {
			return &Error{Op: "start", Daemon: e.d.Name(), Err: ErrDisabled}
		}
		m.setWant(e, true)
		e.gaveUp, e.backingOff, e.restarts, e.delay, e.nextStart = false, false, nil, 0, time.Time{}
		if m.depsReady(e) {
			return e.d.Start(nil)
		}
		return nil
	})
}

// Stop wants the named daemons (all, with no names) down and stops them;
// a daemon that others being stopped run after waits until they are
// stopped (reverse order).
func (m *Manager) Stop(names ...string) error {
	return m.each("stop", names, func(e *entry, now time.Time) error {
		m.setWant(e, false)
		e.stopQueued = true
		return nil
	})
}

// ForceStop wants the named daemons down and kills them at once.
func (m *Manager) ForceStop(names ...string) error {
	return m.each("force-stop", names, func(e *entry, now time.Time) error {
		m.setWant(e, false)
		e.stopQueued = false
		return e.d.ForceStop()
	})
}

// Restart wants the named daemons up and restarts them (stop, then start
// once gone).
func (m *Manager) Restart(names ...string) error {
	return m.each("restart", names, func(e *entry, now time.Time) error {
		m.setWant(e, true)
		e.gaveUp, e.stopQueued = false, false
		return e.d.Restart(nil)
	})
}

// Enable removes the named daemons' disabled marks.
func (m *Manager) Enable(names ...string) error {
	return m.each("enable", names, func(e *entry, now time.Time) error { return e.d.Enable() })
}

// Disable marks the named daemons disabled: they are not started or
// restarted until enabled. Running ones are not stopped.
func (m *Manager) Disable(names ...string) error {
	return m.each("disable", names, func(e *entry, now time.Time) error { return e.d.Disable() })
}

func (m *Manager) each(op string, names []string, fn func(*entry, time.Time) error) error {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return &Error{Op: op, Err: errors.New("manager is closed")}
	}
	es, err := m.pick(op, names)
	if err != nil {
		return err
	}
	now := time.Now()
	var errs []error
	for _, e := range es {
		if err := fn(e, now); err != nil {
			errs = append(errs, err)
		}
		m.collect(e, now)
	}
	// Act on the request now where the order allows (a stop whose
	// dependents are down already), and let the timer know its deadlines.
	for _, e := range m.order {
		m.supervise(e, now)
		m.collect(e, now)
	}
	m.deliver()
	m.w.arm(m.nextDeadline(now))
	return errors.Join(errs...)
}

// Poll polls every daemon, applies the supervision policy, and delivers
// the events on Events. Call it when Wake fires; it never blocks.
func (m *Manager) Poll(now time.Time) {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	exited := false
	for _, e := range m.order {
		for _, ev := range e.d.Poll(now) {
			m.observe(e, ev, now)
			exited = exited || ev.From != Stopped && (ev.To == Zombie || ev.To == Stopped)
		}
	}
	m.deliver()
	if exited {
		// The exits go out now, and this Poll returns, so that a caller
		// polling and reading Events on one goroutine gets them at once;
		// replacements are spawned by the Poll that the wake-up brings.
		m.w.signal()
		return
	}
	for _, e := range m.order {
		e.fresh = false
		m.supervise(e, now)
		m.collect(e, now)
	}
	m.deliver()
	m.w.arm(m.nextDeadline(now))
}

// Run is the ready-made loop for a program without its own: it polls
// whenever Wake fires until ctx is done, and returns ctx's error. Events
// still go to Events; read them in another goroutine.
func (m *Manager) Run(ctx context.Context) error {
	m.Poll(time.Now())
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.Wake():
			m.Poll(time.Now())
		}
	}
}

// Close stops the background goroutine (returning once it has), releases
// every daemon's handles and closes Events. Daemons keep running: a new
// Manager adopts them.
func (m *Manager) Close() error {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if m.w != nil {
		m.w.close()
	}
	for _, e := range m.order {
		e.d.Close()
	}
	close(m.events)
	return nil
}

// observe applies the restart policy to one event of e's.
func (m *Manager) observe(e *entry, ev Event, now time.Time) {
	m.pending = append(m.pending, ev)
	if ev.To == Running && ev.From != Running {
		e.upSince = ev.Time
	}
	if ev.To != Stopped || ev.From == Stopped {
		return
	}
	// Another controller (the CLI, say) may have wanted it down, and then
	// stopped it: its wish is on disk.
	if _, err := os.Lstat(e.wantFile()); err == nil {
		e.wantUp, _ = readWant(e.wantFile())
	}
	if !e.wantUp {
		return
	}
	spec := e.d.spec
	failed := ev.Reason == ReasonCrashed || ev.Reason == ReasonStartFailed ||
		(ev.Reason == ReasonExited && ev.Exit == nil) // unknown status: assume the worst
	restart := (spec.Restart == RestartAlways && (failed || ev.Reason == ReasonExited)) ||
		(spec.Restart == RestartOnFailure && failed)
	if e.fresh {
		// It died while no Manager watched: start it again, as wanted.
		e.backingOff, e.nextStart = false, time.Time{}
		return
	}
	asked := ev.Reason == ReasonRequested || ev.Reason == ReasonStopTimeout || ev.Reason == ReasonWatchdog
	if asked && e.d.State() == Stopped {
		// Stopped through the Daemon itself (not restarted): that is
		// what it is wanted to be now.
		m.setWant(e, false)
		return
	}
	if !restart {
		if !asked {
			m.setWant(e, false) // it ended by itself and stays down
		}
		return
	}
	m.scheduleRestart(e, now)
}

// scheduleRestart backs off before the next start, or gives up when the
// daemon has been restarted MaxRestarts times within RestartWindow.
func (m *Manager) scheduleRestart(e *entry, now time.Time) {
	spec := e.d.spec
	if !e.upSince.IsZero() && now.Sub(e.upSince) >= spec.ResetAfter {
		e.restarts, e.delay = nil, 0 // a stable run: start afresh
	}
	e.upSince = time.Time{}
	e.restarts = slices.DeleteFunc(e.restarts, func(t time.Time) bool { return now.Sub(t) >= spec.RestartWindow })
	if spec.MaxRestarts >= 0 && len(e.restarts) >= spec.MaxRestarts {
		e.gaveUp, e.backingOff = true, false
		e.d.note(now, ReasonGaveUp, nil)
		return
	}
	if e.delay == 0 {
		e.delay = spec.RestartDelay
	} else {
		e.delay = min(2*e.delay, spec.MaxRestartDelay)
	}
	jittered := time.Duration(float64(e.delay) * (0.8 + 0.4*m.opts.Jitter()))
	e.restarts = append(e.restarts, now)
	e.nextStart, e.backingOff = now.Add(jittered), true
}

// supervise starts what is wanted up and due, and stops what is wanted
// down once its dependents are down.
func (m *Manager) supervise(e *entry, now time.Time) {
	switch st := e.d.State(); {
	case e.wantUp && st == Stopped && !e.gaveUp && !now.Before(e.nextStart) && m.depsReady(e):
		if !e.d.IsEnabled() {
			return
		}
		reason := ReasonNone
		if e.backingOff {
			reason = ReasonBackoff
		}
		e.backingOff = false
		if err := e.d.startBy(now, reason); err != nil {
			e.d.note(now, ReasonStartFailed, err)
			if e.d.spec.Restart != RestartNever {
				m.scheduleRestart(e, now)
			}
		} else if reason == ReasonBackoff {
			e.total++
			m.saveWant(e)
		}
	case e.stopQueued && m.dependentsDown(e):
		e.stopQueued = false
		e.d.Stop()
	}
}

// depsReady reports whether every daemon e runs after is running.
func (m *Manager) depsReady(e *entry) bool {
	for _, dep := range e.after {
		if dep.d.State() != Running {
			return false
		}
	}
	return true
}

// dependentsDown reports whether every daemon that runs after e and is
// being stopped too has stopped.
func (m *Manager) dependentsDown(e *entry) bool {
	for _, o := range m.order {
		if slices.Contains(o.after, e) && !o.wantUp && o.d.State() != Stopped {
			return false
		}
	}
	return true
}

// collect moves e's queued events to pending and keeps the waker watching
// its current pidfd and readiness fd.
func (m *Manager) collect(e *entry, now time.Time) {
	for _, ev := range e.d.drain() {
		m.observe(e, ev, now)
	}
	m.watch(e)
}

// watch registers e's live pidfd (once per process) and its readiness fd
// (again after each Poll: the waker's watches fire once).
func (m *Manager) watch(e *entry) {
	if m.w == nil {
		return
	}
	pid, pidfd, nfd := e.d.fds()
	if pidfd >= 0 && (pid != e.watchedPID || pidfd != e.watchedFD) {
		m.w.watch(pidfd)
		e.watchedPID, e.watchedFD = pid, pidfd
	}
	if nfd >= 0 {
		m.w.watch(nfd)
	}
}

// deliver sends waiting events while the channel has room; if some are
// left, Wake fires so that a later Poll sends them.
func (m *Manager) deliver() {
	sent := 0
loop:
	for _, ev := range m.pending {
		select {
		case m.events <- ev:
			sent++
		default:
			break loop
		}
	}
	m.pending = m.pending[:copy(m.pending, m.pending[sent:])]
	if len(m.pending) > 0 && m.w != nil {
		m.w.signal()
	}
}

// nextDeadline is the earliest time a Poll has timed work: a daemon's own
// deadline, a backoff that ends, a zombie to look at again.
func (m *Manager) nextDeadline(now time.Time) time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, e := range m.order {
		earliest(e.d.Deadline())
		st := e.d.State()
		if e.wantUp && st == Stopped && !e.gaveUp && e.backingOff {
			earliest(e.nextStart)
		}
		if st == Zombie {
			// Leftovers give no wake-up when they exit: look again soon.
			earliest(now.Add(zombieRecheck))
		}
	}
	return next
}

// zombieRecheck is how often a Zombie's leftovers are looked at.
const zombieRecheck = 200 * time.Millisecond

func (e *entry) wantFile() string { return filepath.Join(e.d.spec.PIDDir, e.d.spec.Name+".want") }

// setWant records the wanted state in <name>.want ("up" or "down", then
// the count of supervisor restarts), so that a Manager started later
// supervises what this one was asked to, and a status shows the restarts.
func (m *Manager) setWant(e *entry, up bool) {
	e.wantUp = up
	m.saveWant(e)
}

func (m *Manager) saveWant(e *entry) {
	want := "down"
	if e.wantUp {
		want = "up"
	}
	writeFileAtomic(e.wantFile(), []byte(want+"\nrestarts "+strconv.Itoa(e.total)+"\n"))
}

// readWant reads <name>.want: wanted up, and the restarts so far.
func readWant(path string) (up bool, restarts int) {
	b, _, err := readSmallFile(path, 64)
	if err != nil {
		return false, 0
	}
	want, rest, _ := strings.Cut(string(b), "\n")
	if n, ok := strings.CutPrefix(strings.TrimSpace(rest), "restarts "); ok {
		restarts, _ = strconv.Atoi(n)
	}
	return want == "up", max(restarts, 0)
}

// Status returns a snapshot of every daemon, sorted by name, with the
// supervision fields filled in.
func (m *Manager) Status() []Status {
	m.init()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.order))
	for _, e := range m.order {
		st := e.d.Status()
		st.WantUp, st.Restarts, st.GaveUp = e.wantUp, e.total, e.gaveUp
		if e.backingOff && st.State == Stopped {
			st.NextRestart = e.nextStart
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Status) int { return cmpString(a.Name, b.Name) })
	return out
}
