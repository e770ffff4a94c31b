// manager.go is the Manager: many daemons in one owner, supervised. It
// holds each daemon's supervision lease, carries out what other
// controllers ask through the pid dir, and restarts per the policy of
// supervise.go.

package launcher

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
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
	// CgroupBase is used for KillCgroup specs that leave theirs empty.
	CgroupBase string
	// NoSupervise makes a Manager that supervises nothing: it takes no
	// lease, restarts nothing by itself, and acts on requests (in
	// dependency order) like any controller, through the daemons'
	// supervisor where one runs. The CLI's one-shot commands use it.
	NoSupervise bool
}

// Manager supervises many daemons: it starts them in dependency order,
// restarts the ones that end by themselves (per their Spec's Restart
// policy, with backoff, giving up on a crash loop), and keeps what each
// daemon is wanted to be on disk so that a later Manager carries on.
//
// One Manager supervises a daemon at a time: the one that holds its lease
// (<name>.sup). Another Manager on the same daemons (a second `launcher
// up`) watches and reports, restarts nothing, and takes over within
// milliseconds when the first one goes (a hot standby). Any other
// controller's Start, Stop and Restart reach the supervisor through
// <name>.want, and it carries them out.
//
// A caller's loop selects on Wake (call Poll when it fires) and Events, or
// calls Run. No method blocks; the one background goroutine only sends
// wake-ups and stops on Close. Methods are safe for concurrent use; a
// request for many daemons takes the lock for one daemon at a time, so a
// Status or Poll from another goroutine waits for at most one spawn.
type Manager struct {
	opts Options
	once sync.Once
	own  *owner

	// Guarded by own.mu.
	byName  map[string]*Daemon
	waiting map[string][]*Daemon // names in After not added yet, and who names them
	order   []*Daemon            // in Add order: every daemon after those it names in After
}

// NewManager returns a Manager with opts.
func NewManager(opts Options) *Manager {
	m := &Manager{opts: opts}
	m.init()
	return m
}

func (m *Manager) init() {
	m.once.Do(func() {
		if m.opts.EventBuffer <= 0 {
			m.opts.EventBuffer = 1024
		}
		if m.opts.Jitter == nil {
			m.opts.Jitter = rand.Float64
		}
		m.byName = map[string]*Daemon{}
		m.waiting = map[string][]*Daemon{}
		m.own = newOwner(m.opts.EventBuffer)
		m.own.sup = m
	})
}

// Wake fires (a channel of capacity 1; the sender never blocks) when Poll
// has work: a daemon exited, a deadline is due, a readiness message came,
// another controller changed a daemon's files, or events wait for room on
// Events.
func (m *Manager) Wake() <-chan struct{} {
	m.init()
	m.own.mu.Lock()
	defer m.own.mu.Unlock()
	m.own.startWaker()
	return m.own.wake
}

// Events carries every event of every daemon, in order per daemon, none
// dropped: what does not fit waits for a later Poll. It is closed by
// Close. A program that does not read it should keep EventBuffer small
// and expect the waiting events to be kept in memory.
func (m *Manager) Events() <-chan Event {
	m.init()
	return m.own.events
}

var errClosed = errors.New("manager is closed")

// Add puts a daemon under supervision: it checks spec and looks for its
// process as New does (with the Manager's PIDDir and LogDir where spec has
// none), and takes the daemon's lease unless another Manager holds it.
// Every name in spec.After must have been added already. A daemon wanted
// up (by the last supervisor, or by a controller since) is started by the
// next Poll. Errors: those of New, ErrBadSpec (a name added twice, an
// unknown After).
func (m *Manager) Add(spec Spec) error {
	m.init()
	o := m.own
	o.mu.Lock()
	defer o.mu.Unlock()
	fail := func(err error) error { return &Error{Op: "add", Daemon: spec.Name, Err: err} }
	switch {
	case o.closed:
		return fail(errClosed)
	case o.hubErr != nil:
		return fail(o.hubErr)
	case m.byName[spec.Name] != nil:
		return fail(detail(ErrBadSpec, "already added"))
	}
	sv := &supervision{}
	if slices.Contains(spec.After, spec.Name) {
		return fail(detail(ErrBadSpec, "after: names itself"))
	}
	if spec.PIDDir == "" {
		spec.PIDDir = m.opts.PIDDir
	}
	if spec.LogDir == "" {
		spec.LogDir = m.opts.LogDir
	}
	if spec.CgroupBase == "" {
		spec.CgroupBase = m.opts.CgroupBase
	}
	o.mu.Unlock()
	d, err := makeDaemon(spec, o, false) // takes o.mu itself
	o.mu.Lock()
	if err != nil {
		return err
	}
	if m.byName[spec.Name] != nil { // added meanwhile by another goroutine
		d.release()
		o.leave(d)
		return fail(detail(ErrBadSpec, "already added"))
	}
	if err := m.link(d, sv); err != nil {
		d.release()
		o.leave(d)
		return fail(err)
	}
	sv.wantUp, sv.gen = d.wantRec.Up, d.wantRec.Gen
	m.byName[spec.Name] = d
	m.order = append(m.order, d)
	if !m.opts.NoSupervise {
		sv.unwatched = true
		if err := d.f.ensureDirs(); err == nil {
			o.hub.watchDir(d.f.dir, d.f.name, d)
			m.tryLease(d, time.Now())
		}
	}
	return nil
}

// link ties d into the After graph: to the daemons it names that are
// added already, and to those added earlier that name it. A name not added
// yet waits for its Add (a Start of d meanwhile is refused). A cycle is
// refused.
func (m *Manager) link(d *Daemon, sv *supervision) error {
	var after []*Daemon
	var missing []string
	for _, name := range d.spec.After {
		if dep := m.byName[name]; dep != nil {
			after = append(after, dep)
		} else {
			missing = append(missing, name)
		}
	}
	waiting := m.waiting[d.Name()]
	for _, dep := range after {
		if m.reaches(dep, d, waiting) {
			return detail(ErrBadSpec, "after: %s runs after %s already (a cycle)", dep.Name(), d.Name())
		}
	}
	d.sv = sv
	sv.after, sv.missing = after, missing
	for _, dep := range after {
		dep.sv.dependents = append(dep.sv.dependents, d)
	}
	for _, name := range missing {
		m.waiting[name] = append(m.waiting[name], d)
	}
	for _, x := range waiting { // added earlier, waiting for d
		x.sv.after = append(x.sv.after, d)
		x.sv.missing = slices.DeleteFunc(x.sv.missing, func(n string) bool { return n == d.Name() })
		sv.dependents = append(sv.dependents, x)
	}
	delete(m.waiting, d.Name())
	return nil
}

// reaches reports whether from runs after to (directly or not), counting
// the daemons that will run after to once it is added (pending).
func (m *Manager) reaches(from, to *Daemon, pending []*Daemon) bool {
	seen := map[*Daemon]bool{}
	var walk func(x *Daemon) bool
	walk = func(x *Daemon) bool {
		if x == to || slices.Contains(pending, x) && x != from {
			return true
		}
		if seen[x] {
			return false
		}
		seen[x] = true
		for _, y := range x.sv.after {
			if walk(y) {
				return true
			}
		}
		return false
	}
	return slices.Contains(pending, from) || walk(from)
}

// tryLease takes d's lease if it is free: from then on this Manager
// supervises d, acting on what is wanted.
func (m *Manager) tryLease(d *Daemon, now time.Time) {
	if d.lease >= 0 || m.own.closed || m.opts.NoSupervise {
		return
	}
	fd, got, err := d.f.takeLease()
	if err != nil || !got {
		return
	}
	d.lease = fd
	d.readWant()
	d.rec, _ = d.f.readStatus()
	d.rec.Supervisor = os.Getpid()
	d.recDirty = true
	d.sv.wantUp, d.sv.gen = d.wantRec.Up, d.wantRec.Gen
	if d.notify != nil && d.spec.Ready == ReadyNotify {
		if d.notify.bind() == nil {
			d.watchNotify()
		}
	}
	m.own.touch(d, markDue)
}

// Remove takes a daemon out of supervision without stopping it, and gives
// up its lease. A daemon that another one names in After cannot be
// removed. Errors: ErrUnknownDaemon, ErrBadSpec.
func (m *Manager) Remove(name string) error {
	m.init()
	o := m.own
	o.mu.Lock()
	defer o.mu.Unlock()
	d := m.byName[name]
	if d == nil {
		return &Error{Op: "remove", Daemon: name, Err: ErrUnknownDaemon}
	}
	if len(d.sv.dependents) > 0 {
		return &Error{Op: "remove", Daemon: name, Err: detail(ErrBadSpec, "%s runs after it", d.sv.dependents[0].Name())}
	}
	for _, dep := range d.sv.after {
		dep.sv.dependents = slices.DeleteFunc(dep.sv.dependents, func(x *Daemon) bool { return x == d })
	}
	for _, name := range d.sv.missing {
		m.waiting[name] = slices.DeleteFunc(m.waiting[name], func(x *Daemon) bool { return x == d })
	}
	delete(m.byName, name)
	m.order = slices.DeleteFunc(m.order, func(x *Daemon) bool { return x == d })
	d.release()
	o.leave(d)
	return nil
}

// Supervising returns the names of the daemons this Manager supervises
// now (holds the lease of), in Add order. The others are supervised by
// another Manager, which this one stands by for.
func (m *Manager) Supervising() []string {
	m.init()
	m.own.mu.Lock()
	defer m.own.mu.Unlock()
	var names []string
	for _, d := range m.order {
		if d.lease >= 0 {
			names = append(names, d.Name())
		}
	}
	return names
}

// Daemon returns the named daemon, or an *Error wrapping ErrUnknownDaemon
// when none was added under that name.
func (m *Manager) Daemon(name string) (*Daemon, error) {
	if d := m.daemon(name); d != nil {
		return d, nil
	}
	return nil, &Error{Op: "daemon", Daemon: name, Err: ErrUnknownDaemon}
}

// daemon returns the named daemon, or nil.
func (m *Manager) daemon(name string) *Daemon {
	m.init()
	m.own.mu.Lock()
	defer m.own.mu.Unlock()
	return m.byName[name]
}

// Daemons returns every daemon, sorted by name.
func (m *Manager) Daemons() []*Daemon {
	m.init()
	m.own.mu.Lock()
	ds := slices.Clone(m.order)
	m.own.mu.Unlock()
	slices.SortFunc(ds, func(a, b *Daemon) int { return strings.Compare(a.Name(), b.Name()) })
	return ds
}

// pick returns the named daemons, or all of them in order when names is
// empty. The caller holds the lock.
func (m *Manager) pick(op string, names []string) ([]*Daemon, error) {
	if len(names) == 0 {
		return slices.Clone(m.order), nil
	}
	var ds []*Daemon
	for _, n := range names {
		d := m.byName[n]
		if d == nil {
			return nil, &Error{Op: op, Daemon: n, Err: ErrUnknownDaemon}
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// Start wants the named daemons (all, with no names) up: each starts now
// if the daemons it names in After are running, or at a later Poll when
// they are. It clears a gave-up state and the backoff. Where another
// Manager supervises a daemon, it is asked to start it. The error joins one
// *Error per daemon that could not be started (ErrDisabled, ErrExec, ...,
// as Daemon.Start's).
func (m *Manager) Start(names ...string) error {
	return m.each("start", names, func(d *Daemon, now time.Time) error {
		if off, err := d.f.isDisabled(); off {
			return errors.Join(ErrDisabled, err)
		}
		if len(d.sv.missing) > 0 {
			return detail(ErrBadSpec, "after: no daemon %q has been added", d.sv.missing[0])
		}
		d.rec = d.rec.reset()
		d.sv.stopQueued = false
		if !m.depsReady(d) {
			d.sv.startQueued = true
			return d.setWant(true, d.lease >= 0)
		}
		return d.request(inStart, nil, ReasonNone, now)
	})
}

// Stop wants the named daemons (all, with no names) down and stops them;
// a daemon that others being stopped run after waits until they are
// stopped (reverse order). The error joins one *Error per daemon.
func (m *Manager) Stop(names ...string) error {
	return m.each("stop", names, func(d *Daemon, now time.Time) error {
		if err := d.setWant(false, false); err != nil && d.lease < 0 {
			return err
		}
		d.sv.stopQueued, d.sv.stopWhy = true, ReasonRequested
		if d.lease < 0 && d.f.leaseHeld() {
			d.sv.stopQueued = false // the supervisor does it
		}
		return nil
	})
}

// ForceStop wants the named daemons down and kills them at once. The
// error joins one *Error per daemon.
func (m *Manager) ForceStop(names ...string) error {
	return m.each("force-stop", names, func(d *Daemon, now time.Time) error {
		d.sv.stopQueued = false
		return d.request(inForceStop, nil, ReasonNone, now)
	})
}

// Restart wants the named daemons up and restarts them (stop, then start
// once gone). The error joins one *Error per daemon.
func (m *Manager) Restart(names ...string) error {
	return m.each("restart", names, func(d *Daemon, now time.Time) error {
		d.rec = d.rec.reset()
		d.sv.stopQueued = false
		return d.request(inRestart, nil, ReasonNone, now)
	})
}

// Signal sends sig to the main process of each named daemon (all, with no
// names), through its pidfd. The error joins one *Error per daemon that
// could not be signalled (ErrNotRunning when it has no process,
// ErrUnknownDaemon for a name not added).
func (m *Manager) Signal(sig syscall.Signal, names ...string) error {
	return m.each("signal", names, func(d *Daemon, now time.Time) error {
		if d.proc == nil || d.mainExited {
			return ErrNotRunning
		}
		return d.proc.signal(sig)
	})
}

// Enable removes the named daemons' disabled marks.
func (m *Manager) Enable(names ...string) error {
	return m.each("enable", names, func(d *Daemon, now time.Time) error { return d.f.setDisabled(false) })
}

// Disable marks the named daemons disabled: they are not started or
// restarted until enabled. Running ones are not stopped.
func (m *Manager) Disable(names ...string) error {
	return m.each("disable", names, func(d *Daemon, now time.Time) error { return d.f.setDisabled(true) })
}

// each applies fn to the named daemons, taking the lock for one daemon at
// a time (a Start spawns in fn), then acts on what waits for an order (a
// stop whose dependents are down) in one round. It joins the daemons'
// errors, each an *Error naming its daemon.
func (m *Manager) each(op string, names []string, fn func(*Daemon, time.Time) error) error {
	m.init()
	o := m.own
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return &Error{Op: op, Err: errClosed}
	}
	ds, err := m.pick(op, names)
	o.mu.Unlock()
	if err != nil {
		return err
	}
	var errs []error
	one := func(d *Daemon) {
		o.mu.Lock()
		defer o.mu.Unlock()
		if o.closed || m.byName[d.Name()] != d {
			return
		}
		if err := fn(d, time.Now()); err != nil {
			var le *Error
			if !errors.As(err, &le) || le.Daemon != d.Name() {
				err = &Error{Op: op, Daemon: d.Name(), Err: err}
			}
			errs = append(errs, err)
		}
		o.touch(d, markDue)
	}
	for _, d := range ds {
		one(d)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.poll(time.Now())
	}
	return errors.Join(errs...)
}

// Poll acts on everything that has happened since the last Poll: exits,
// due deadlines and restarts, readiness, and what other controllers
// changed; it touches only the daemons concerned. It delivers the events
// on Events (an exit's event before the spawn of its replacement) and
// never blocks. Call it when Wake fires.
func (m *Manager) Poll(now time.Time) {
	m.init()
	m.own.mu.Lock()
	defer m.own.mu.Unlock()
	if m.own.closed {
		return
	}
	m.own.poll(now)
}

// Run is the ready-made loop for a program without its own: it polls
// whenever Wake fires until ctx is done, then shuts down: it stops every
// daemon it supervises (Shutdown) and returns nil once they are all
// stopped. Events still go to Events; read them in another goroutine.
// Close afterwards; to leave the daemons running instead, Close without
// cancelling ctx, or use your own loop.
//
// Errors: those of Shutdown.
func (m *Manager) Run(ctx context.Context) error {
	m.Poll(time.Now())
	wake := m.Wake()
	for {
		select {
		case <-ctx.Done():
			return m.shutdown(context.Background(), true)
		case <-wake:
			m.Poll(time.Now())
		}
	}
}

// Shutdown stops every daemon this Manager supervises (in reverse
// dependency order; SIGKILL at each one's StopTimeout, as ever) and polls
// until they are all stopped, delivering their events on Events. It is
// for a program that ends without Run; unlike every other method it
// blocks, until they are stopped (nil) or ctx is done (ctx's error). The
// daemons another Manager supervises are left to it. Close afterwards.
//
// Errors: ctx's error; an *Error naming the daemons still not stopped
// when their StopTimeout and a grace period after the SIGKILL have passed
// (a process that cannot be killed, leftovers that keep the lock).
func (m *Manager) Shutdown(ctx context.Context) error { return m.shutdown(ctx, false) }

func (m *Manager) shutdown(ctx context.Context, bounded bool) error {
	names := m.Supervising()
	if len(names) == 0 {
		return nil
	}
	m.Stop(names...)
	var limit <-chan time.Time
	if bounded {
		longest := time.Duration(0)
		for _, n := range names {
			longest = max(longest, m.daemon(n).spec.StopTimeout)
		}
		t := time.NewTimer(longest + shutdownGrace)
		defer t.Stop()
		limit = t.C
	}
	wake := m.Wake()
	for {
		m.Poll(time.Now())
		var left []string
		for _, n := range names {
			if d := m.daemon(n); d != nil && d.State() != Stopped {
				left = append(left, n)
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-limit:
			return &Error{Op: "shutdown", Err: fmt.Errorf("not stopped: %s", strings.Join(left, ", "))}
		case <-wake:
		}
	}
}

// shutdownGrace is how long Run's shutdown waits after the longest
// StopTimeout (and so after the SIGKILL) before it gives up.
const shutdownGrace = 5 * time.Second

// Close stops the background goroutine (returning once it has), gives up
// every lease (a standby Manager takes over), releases every daemon's fds
// and closes Events. Daemons keep running: a new Manager adopts them.
func (m *Manager) Close() error {
	m.init()
	o := m.own
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	for _, d := range m.order {
		d.release()
	}
	o.close()
	return nil
}

// Status returns a snapshot of every daemon, sorted by name.
func (m *Manager) Status() []Status {
	m.init()
	ds := m.Daemons()
	out := make([]Status, 0, len(ds))
	now := time.Now()
	for _, d := range ds {
		enabled := d.IsEnabled()
		m.own.mu.Lock()
		out = append(out, d.status(enabled, now))
		m.own.mu.Unlock()
	}
	return out
}

// observe applies the restart policy to one event of d's.
func (m *Manager) observe(d *Daemon, ev Event, now time.Time) {
	sv := d.sv
	if ev.To == Running && ev.From != Running {
		sv.upSince = ev.Time
	}
	if d.lease < 0 || ev.From == ev.To {
		return
	}
	if ev.To == Stopped && sv.unwatched && sv.wantUp {
		// It ended while no supervisor watched: start it again, as wanted.
		d.rec.NextRestart = time.Time{}
		return
	}
	if !sv.wantUp && ev.To == Stopped {
		d.rec.LastReason, d.rec.Since = ev.Reason, ev.Time
		d.recDirty = true
		return
	}
	rec, v := decide(d.rec, ev, policyOf(d.spec), sv.upSince, now, m.opts.Jitter())
	d.rec = rec
	switch v {
	case restartAt:
		sv.why = ReasonBackoff
		sv.upSince = time.Time{}
	case giveUp:
		d.supervisorNote(now, ReasonGaveUp, nil)
	case stayDown:
		d.setWant(false, true)
	}
	if ev.To == Stopped || ev.To == Zombie {
		d.recDirty = true
	}
}

// settle starts what is wanted up and due, and stops what is wanted down
// once its dependents are down. It runs after each round of d's.
func (m *Manager) settle(d *Daemon, now time.Time) {
	sv := d.sv
	sv.unwatched = false
	before := d.m.state
	st := d.m.state
	switch {
	case sv.startQueued && st == Stopped && m.depsReady(d):
		sv.startQueued = false
		m.own.deliver()
		d.request(inStart, nil, ReasonNone, now)
	case d.lease >= 0 && sv.wantUp && st == Stopped && !d.rec.GaveUp && !now.Before(d.rec.NextRestart) && m.depsReady(d):
		if off, _ := d.f.isDisabled(); off {
			return
		}
		why := sv.why.or(ReasonRequested)
		sv.why = ReasonNone
		m.own.deliver() // the exit's events go out before the spawn
		d.startData = nil
		err := d.apply(input{kind: inStart, reason: why}, now)
		switch {
		case err != nil && d.spec.Restart != RestartNever:
			rec, v := backoff(d.rec, policyOf(d.spec), time.Time{}, now, m.opts.Jitter())
			d.rec = rec
			if v == giveUp {
				d.supervisorNote(now, ReasonGaveUp, nil)
			} else {
				sv.why = ReasonBackoff
			}
			d.recDirty = true
		case err == nil && why == ReasonBackoff:
			d.rec.Restarts++
			d.recDirty = true
		}
	case sv.stopQueued && m.dependentsDown(d):
		sv.stopQueued = false
		d.apply(input{kind: inStop, reason: sv.stopWhy}, now)
	}
	if d.m.state != before || d.m.state == Running || d.m.state == Stopped {
		// Its dependents may start now, or the daemons it runs after stop.
		for _, x := range sv.dependents {
			if x.m.state == Stopped && d.m.state == Running && (x.sv.startQueued || x.sv.wantUp && x.lease >= 0) {
				m.own.touch(x, markDue)
			}
		}
		for _, x := range sv.after {
			if x.sv.stopQueued && d.m.state == Stopped {
				m.own.touch(x, markDue)
			}
		}
	}
}

// changed acts on what another controller changed in d's files: a lease
// given up (take it over), a new wish in <name>.want (carry it out).
func (m *Manager) changed(d *Daemon, kinds fileKind, now time.Time) {
	if kinds&fileSup != 0 && d.lease < 0 {
		m.tryLease(d, now)
	}
	if kinds&fileWant == 0 || d.lease < 0 {
		return
	}
	sv, w := d.sv, d.wantRec
	if w.Up == sv.wantUp && w.Gen == sv.gen {
		return // ours, or nothing new
	}
	restart := w.Up && w.Gen != sv.gen
	sv.wantUp, sv.gen = w.Up, w.Gen
	switch {
	case !w.Up:
		sv.stopQueued, sv.stopWhy = true, ReasonRequestedElsewhere
	case restart && d.m.state != Stopped:
		d.rec = d.rec.reset()
		sv.stopQueued = false
		d.apply(input{kind: inRestart, reason: ReasonRequestedElsewhere}, now)
	default:
		d.rec = d.rec.reset()
		sv.stopQueued, sv.why = false, ReasonRequestedElsewhere
	}
	d.genSeen = w.Gen
	m.own.touch(d, markDue)
}

// depsReady reports whether every daemon d runs after is running.
func (m *Manager) depsReady(d *Daemon) bool {
	if len(d.sv.missing) > 0 {
		return false
	}
	for _, dep := range d.sv.after {
		if dep.m.state != Running {
			return false
		}
	}
	return true
}

// dependentsDown reports whether every daemon that runs after d and is
// being stopped too has stopped.
func (m *Manager) dependentsDown(d *Daemon) bool {
	for _, x := range d.sv.dependents {
		if (x.sv.stopQueued || !x.sv.wantUp) && x.m.state != Stopped {
			return false
		}
	}
	return true
}

// setWant records in <name>.want what d is wanted to be (a restart, when
// bump, is a new generation) and makes it what d's supervision acts on.
func (d *Daemon) setWant(up, quiet bool) error {
	w := d.wantRec
	w.Up = up
	if d.sv != nil {
		d.sv.wantUp, d.sv.gen = up, w.Gen
	}
	if w == d.wantRec && d.wantKnown {
		return nil
	}
	err := d.f.writeWant(w)
	if err == nil {
		d.wantRec, d.wantKnown = w, true
	}
	if quiet {
		return nil
	}
	return err
}

// supervisorNote records a supervisor's decision that changes no state
// (gave-up) as an event of d's.
func (d *Daemon) supervisorNote(now time.Time, r Reason, err error) {
	d.emit(now, d.m.state, d.m.state, r, nil, err)
}
