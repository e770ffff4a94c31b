// manager.go is the Manager: many daemons in one owner, supervised. It
// holds each daemon's supervision lease, carries out what other
// controllers ask through the pid dir, and restarts per the policy of
// supervise.go.

package launcher

import (
	"errors"
	"fmt"
	"math/rand/v2"
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
// request for many daemons takes the lock for one daemon at a time, and
// not while it forks and execs, so a Status or Poll from another goroutine
// waits for no spawn of a request.
type Manager struct {
	opts Options
	once sync.Once
	own  *owner

	// Guarded by own.mu; byName and order also by names, which their
	// writers hold besides, so that Daemon, Daemons and Status never wait
	// for a round or a request.
	names   sync.RWMutex
	byName  map[string]*Daemon
	waiting map[string][]*Daemon // names in After not added yet, and who names them
	order   []*Daemon            // in Add order: every daemon after those it names in After
	sorted  []*Daemon            // by name, for Daemons and Status (a sort there took 0.1 ms with 10 000)
	sv      map[*Daemon]*supervision
	// Leases of removed daemons, kept until the next Poll: a Remove and
	// Add of the same daemon (a reload of its new spec) keeps supervising
	// it, where a release would let a standby take it in between.
	kept map[string]*Daemon
	// The Seq of the last event of each removed daemon: one added again
	// goes on from there on Events, as its consumer expects.
	lastSeq map[string]uint64
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
		m.sv = map[*Daemon]*supervision{}
		m.own = newOwner(m.opts.EventBuffer)
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

var errClosed = fmt.Errorf("manager is %w", ErrClosed)

// Add puts a daemon under supervision: it checks spec and looks for its
// process as New does (with the Manager's PIDDir and LogDir where spec has
// none), and takes the daemon's lease unless another Manager holds it.
// A name in spec.After that is not added yet waits for its Add (until
// then a Start of this daemon is refused with ErrBadSpec). A daemon wanted
// up (by the last supervisor, or by a controller since) is started by the
// next Poll. A daemon removed and added again goes on with the Seq of its
// events and keeps its lease (see Remove). Errors: those of New,
// ErrBadSpec (a name added twice, After naming the daemon itself, a
// cycle).
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
	sv := &supervision{noSupervise: m.opts.NoSupervise, jitter: m.opts.Jitter}
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
	seq := m.lastSeq[spec.Name] // removed before: its events go on from there
	o.mu.Unlock()
	d, err := makeDaemon(spec, o, false, seq) // takes o.mu itself
	o.mu.Lock()
	if err != nil {
		return err
	}
	if o.closed { // closed by another goroutine meanwhile
		d.release()
		o.leave(d)
		return fail(errClosed)
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
	m.names.Lock()
	m.byName[spec.Name] = d
	m.order = append(m.order, d)
	i, _ := slices.BinarySearchFunc(m.sorted, spec.Name, func(x *Daemon, name string) int { return strings.Compare(x.Name(), name) })
	m.sorted = slices.Insert(m.sorted, i, d)
	m.names.Unlock()
	o.roles.Add(1)
	delete(m.lastSeq, spec.Name)
	kept := -1
	if k := m.kept[spec.Name]; k != nil && k.f.supPath() == d.f.supPath() && !sv.noSupervise {
		kept, k.lease = k.lease, -1
		delete(m.kept, spec.Name)
	}
	d.supervise(sv, time.Now(), kept)
	return nil
}

// Remove takes a daemon out of supervision without stopping it, and gives
// up its lease at the next Poll: an Add of the same daemon before then (a
// new spec for it) keeps supervising it, where another Manager standing by
// would otherwise take it over in between. A daemon that another one names
// in After cannot be removed. The *Daemon that Daemon returned for it takes
// no more requests (ErrClosed; an Add of the name makes a new one). Errors:
// ErrUnknownDaemon, ErrBadSpec.
func (m *Manager) Remove(name string) error {
	m.init()
	o := m.own
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return &Error{Op: "remove", Daemon: name, Err: errClosed}
	}
	d := m.byName[name]
	for d != nil && d.spawning {
		o.spawnDone.Wait()
		d = m.byName[name] // removed meanwhile?
	}
	if d == nil {
		return &Error{Op: "remove", Daemon: name, Err: ErrUnknownDaemon}
	}
	sv := m.sv[d]
	if len(sv.dependents) > 0 {
		return &Error{Op: "remove", Daemon: name, Err: detail(ErrBadSpec, "%s runs after it", sv.dependents[0].Name())}
	}
	for _, dep := range sv.after {
		m.sv[dep].dependents = slices.DeleteFunc(m.sv[dep].dependents, func(x *Daemon) bool { return x == d })
	}
	for _, name := range sv.missing {
		m.waiting[name] = slices.DeleteFunc(m.waiting[name], func(x *Daemon) bool { return x == d })
	}
	m.names.Lock()
	delete(m.byName, name)
	delete(m.sv, d)
	m.order = slices.DeleteFunc(m.order, func(x *Daemon) bool { return x == d })
	m.sorted = slices.DeleteFunc(m.sorted, func(x *Daemon) bool { return x == d })
	m.names.Unlock()
	o.roles.Add(1)
	d.releaseKeeping()
	if m.lastSeq == nil {
		m.lastSeq = map[string]uint64{}
	}
	m.lastSeq[name] = d.seq
	if d.lease >= 0 {
		if m.kept == nil {
			m.kept = map[string]*Daemon{}
		}
		if old := m.kept[name]; old != nil {
			old.dropLease()
		}
		m.kept[name] = d
		o.signal() // the next Poll gives it up, unless an Add takes it back first
	}
	o.leave(d)
	return nil
}

// dropKept gives up the leases that Remove kept. The caller holds the lock.
func (m *Manager) dropKept() {
	for name, d := range m.kept {
		d.dropLease()
		delete(m.kept, name)
	}
}

// Supervising returns the names of the daemons this Manager supervises
// now (holds the lease of), in Add order. The others are supervised by
// another Manager, which this one stands by for. It costs time in
// proportion to the number of daemons: a loop that shows it asks again
// only when RolesChanged says so.
func (m *Manager) Supervising() []string {
	m.init()
	m.own.mu.Lock()
	defer m.own.mu.Unlock()
	var names []string
	for _, d := range m.order {
		if d.leased() {
			names = append(names, d.Name())
		}
	}
	return names
}

// RolesChanged returns a number that changes whenever what Supervising
// returns may have: a lease taken (at an Add, or from a supervisor that
// went) or given up, a daemon added or removed. It never blocks and is safe
// for concurrent use: a loop compares it with the last one it saw, at no
// cost per daemon.
func (m *Manager) RolesChanged() uint64 {
	m.init()
	return m.own.roles.Load()
}

// Daemon returns the named daemon, or an *Error wrapping ErrUnknownDaemon
// when none was added under that name. It never waits for a Poll or
// request under way. Safe for concurrent use.
func (m *Manager) Daemon(name string) (*Daemon, error) {
	if d := m.daemon(name); d != nil {
		return d, nil
	}
	return nil, &Error{Op: "daemon", Daemon: name, Err: ErrUnknownDaemon}
}

// daemon returns the named daemon, or nil.
func (m *Manager) daemon(name string) *Daemon {
	m.init()
	m.names.RLock()
	defer m.names.RUnlock()
	return m.byName[name]
}

// Daemons returns every daemon, sorted by name. It never waits for a Poll
// or request under way. Safe for concurrent use.
func (m *Manager) Daemons() []*Daemon {
	m.init()
	m.names.RLock()
	defer m.names.RUnlock()
	return slices.Clone(m.sorted)
}

// pick returns the named daemons, or all of them in order when names is
// empty, and an *Error (ErrUnknownDaemon) for each name not added: the
// others are acted on all the same. The caller holds the lock.
func (m *Manager) pick(op string, names []string) ([]*Daemon, []error) {
	if len(names) == 0 {
		return slices.Clone(m.order), nil
	}
	var ds []*Daemon
	var errs []error
	for _, n := range names {
		if d := m.byName[n]; d != nil {
			ds = append(ds, d)
		} else {
			errs = append(errs, &Error{Op: op, Daemon: n, Err: ErrUnknownDaemon})
		}
	}
	return ds, errs
}

// Start wants the named daemons (all, with no names) up: each starts now
// if the daemons it names in After are running, or at a later Poll when
// they are. It clears a gave-up state and the backoff. Where another
// Manager supervises a daemon, it is asked to start it. The error joins one
// *Error per daemon that could not be started (ErrDisabled, ErrExec, ...,
// as Daemon.Start's).
func (m *Manager) Start(names ...string) error {
	return m.each("start", names, func(d *Daemon, now time.Time) error { return d.startSupervised(now) })
}

// Stop wants the named daemons (all, with no names) down and stops them;
// a daemon that others being stopped run after waits until they are
// stopped (reverse order). The error joins one *Error per daemon.
func (m *Manager) Stop(names ...string) error {
	return m.each("stop", names, func(d *Daemon, now time.Time) error { return d.stopSupervised() })
}

// dependentsFirst orders ds so that a daemon comes before those it runs
// after (directly or not): a stop's wishes reach another supervisor in the
// order it must carry them out, which it does as they come. The caller
// holds the lock.
func (m *Manager) dependentsFirst(ds []*Daemon) {
	depth := map[*Daemon]int{}
	var of func(d *Daemon) int
	of = func(d *Daemon) int {
		if n, ok := depth[d]; ok {
			return n
		}
		depth[d] = 0 // the graph has no cycle (link refuses them)
		n := 0
		for _, dep := range m.sv[d].after {
			n = max(n, of(dep)+1)
		}
		depth[d] = n
		return n
	}
	slices.SortStableFunc(ds, func(a, b *Daemon) int { return of(b) - of(a) })
}

// ForceStop wants the named daemons down and kills them at once. The
// error joins one *Error per daemon.
func (m *Manager) ForceStop(names ...string) error {
	return m.each("force-stop", names, func(d *Daemon, now time.Time) error { return d.forceStopSupervised(now) })
}

// Restart wants the named daemons up and restarts them (stop, then start
// once gone). One whose After daemons are not all running is stopped now
// and started when they are, as Start does. Where another Manager
// supervises a daemon, it is asked to restart it. The error joins one
// *Error per daemon.
func (m *Manager) Restart(names ...string) error {
	return m.each("restart", names, func(d *Daemon, now time.Time) error { return d.restartSupervised(now) })
}

// Signal sends sig to the main process of each named daemon (all, with no
// names), through its pidfd. The error joins one *Error per daemon that
// could not be signalled (ErrNotRunning when it has no process,
// ErrUnknownDaemon for a name not added).
func (m *Manager) Signal(sig syscall.Signal, names ...string) error {
	return m.each("signal", names, func(d *Daemon, now time.Time) error { return d.signalMain(sig) })
}

// Enable removes the named daemons' disabled marks.
func (m *Manager) Enable(names ...string) error {
	return m.each("enable", names, func(d *Daemon, now time.Time) error { return d.markDisabled(false) })
}

// Disable marks the named daemons disabled: they are not started or
// restarted until enabled. Running ones are not stopped.
func (m *Manager) Disable(names ...string) error {
	return m.each("disable", names, func(d *Daemon, now time.Time) error { return d.markDisabled(true) })
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
	ds, errs := m.pick(op, names)
	if op == "stop" || op == "force-stop" {
		m.dependentsFirst(ds)
	}
	o.mu.Unlock()
	one := func(d *Daemon) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.waitSpawn(d)
		switch {
		case o.closed: // by another goroutine, while an earlier one spawned
			errs = append(errs, &Error{Op: op, Daemon: d.Name(), Err: errClosed})
			return
		case m.byName[d.Name()] != d: // removed meanwhile (and maybe added again)
			if len(names) > 0 { // named: not done, say so; "all" is who is left
				errs = append(errs, &Error{Op: op, Daemon: d.Name(), Err: detail(ErrUnknownDaemon, "removed while the request ran")})
			}
			return
		}
		o.openSpawn = d   // its spawn releases the lock: Status and Poll go on meanwhile
		o.armLater = true // the round below arms the timer
		err := fn(d, time.Now())
		o.openSpawn = nil
		if err != nil {
			var le *Error
			if !errors.As(err, &le) || le.Daemon != d.Name() {
				err = &Error{Op: op, Daemon: d.Name(), Err: err}
			}
			errs = append(errs, err)
		}
		// A round for it (and what it gave work to) now: one at the end
		// for all of them would hold the lock for all of them at once.
		o.touch(d, markDue)
		o.poll(time.Now())
		o.armLater = false
	}
	for _, d := range ds {
		one(d)
	}
	return errors.Join(errs...)
}

// Poll acts on everything that has happened since the last Poll: exits,
// due deadlines and restarts, readiness, and what other controllers
// changed; it touches only the daemons concerned. It delivers the events
// on Events (an exit's event before the spawn of its replacement: having
// handed it to a receiver that waited on the channel, Poll yields the
// processor once, runtime.Gosched, so that a receiver in another goroutine
// has it first, as the scheduler allows; a loop that polls and reads
// Events itself gets it after Poll, and is not yielded for) and never
// blocks. Call it
// when Wake fires; calls from several goroutines are safe and take turns.
func (m *Manager) Poll(now time.Time) {
	m.init()
	m.own.mu.Lock()
	defer m.own.mu.Unlock()
	if m.own.closed {
		return
	}
	if len(m.kept) > 0 {
		m.dropKept()
	}
	m.own.poll(now)
}

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
	for o.spawns > 0 { // a request's spawn under way: its fds are in use
		o.spawnDone.Wait()
	}
	if o.closed { // closed by another goroutine meanwhile
		return nil
	}
	for _, d := range m.order {
		d.release()
	}
	m.dropKept()
	o.close()
	return nil
}

// Status returns a snapshot of every daemon, sorted by name, as of the
// last Poll or request, like each Daemon's Status: it never waits for one
// under way either. It makes no system call (but a look at the disabled
// mark of a daemon whose pid dir is missing, which no watch keeps up to
// date): the usage that Daemon.Status reads at the call (CPUTime, RSS, and
// TreeCPU, TreeMemory, TreeProcs) is left unread here (zero, and -1), so
// that it stays a copy of memory with thousands of daemons; ask each
// Daemon for its usage. Safe for concurrent use.
func (m *Manager) Status() []Status {
	m.init()
	ds := m.Daemons()
	out := make([]Status, len(ds))
	now := time.Now()
	for i, d := range ds {
		// What the last round or request published: each of them
		// publishes what it changed, so this is what the owner's mutex
		// would show too when free (no TryLock and publish per daemon,
		// which cost 0.7 ms more with 10 000).
		d.publishedInto(&out[i], now)
	}
	return out
}
