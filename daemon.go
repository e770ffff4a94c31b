// daemon.go is the Daemon: its type, New, its accessors and the requests
// (Start, Stop, ...). How requests and observations are carried out is in
// drive.go.

package launcher

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Daemon is one named process under control. Its methods are safe for
// concurrent use and never block: each returns after a bounded number of
// cheap system calls (Start also forks and execs).
//
// Requests (Start, Stop, ForceStop, Restart) apply at once and make their
// events at once; Poll observes everything else: exits, deadlines,
// readiness, and what other controllers did to the daemon's files. Events
// go on Events (from the first call of Events on) and are also returned by
// Poll. Wake fires when Poll has work, so a caller needs no ticker.
//
// Daemons outlive their controller: Close releases the Daemon's fds and
// goroutine but never stops the process, and a new Daemon of the same name
// (in this program or another) finds and adopts it.
type Daemon struct {
	spec Spec // defaults applied
	cred *syscall.Credential
	f    files
	own  *owner // the lone Daemon's own, or its Manager's
	slot int

	// Guarded by own.mu.
	m            machine
	proc         *process  // the main process; nil when none is known
	exitSeen     time.Time // an adopted proc's exit was seen, its status not yet known
	exitRetry    time.Time // ... when to look for it again
	busyRetry    time.Time // the lock was busy (a spawn under way): when to look again
	busyWait     time.Duration
	leaseLookAt  time.Time // look at the lease again then (lookAtLease)
	leaseLooks   int       // ... the looks since it changed
	spawning     bool      // a request spawns it now, with own.mu released (forkExec)
	joining      bool      // New or Add reads its files, with own.mu released (makeDaemon)
	spawnOpen    bool      // ... the request under way may do so
	deferred     bool      // a round passed it by while it was spawned or joining: its marks wait
	pendingStop  inputKind // a stop asked for while busy: inStop, inForceStop, or 0
	mainExited   bool      // proc has exited (Zombie, or Stopping a Zombie)
	wantKnown    bool      // <name>.want existed at the last read (wantRec)
	owesGaveUp   bool      // the record says its supervisor gave up: a note once it is stopped here
	seq          uint64
	queue        []Event // a lone Daemon's events not yet returned by Poll
	fresh        []Event // events not yet passed on by the owner
	startData    []byte  // data for a queued start
	wantRec      want    // <name>.want as last read
	genSeen      uint64  // the generation the process was started or adopted under
	rec          supRecord
	lastExit     *ExitStatus
	statusText   string
	problem      string // what is wrong with its files, if anything
	outdated     bool   // the process runs another command than the spec's
	dirty        fileKind
	marks        mark
	due          time.Time
	dueIdx       int
	heldLock     int       // the lock, taken when the daemon was found gone, until the files are done; -1
	filesPending bool      // gone this round: remove its records at the round's end, unless restarted
	recDirty     bool      // rec changed this round: write it at the round's end (lease holder)
	exitDirty    bool      // its daemon went this round, seen by its starter: record the exit
	readyInID    procIdent // the process whose identity record, written here, says it was confirmed
	recordsDue   time.Time // when to write the records of a daemon recovered while its spawner lived
	recovered    *identity // ... what to write then (rare: a pointer, 144 bytes less a daemon)
	startedHere  bool      // the process was spawned by this Daemon (not adopted)
	stoppedHere  bool      // ... or stopped by it, where no supervisor was: it logs and records the end
	dirsMade     bool      // the pid and log dirs were made (or found) by a spawn
	left         bool      // taken out of its owner (Close, Remove, a failed Add)
	cmdPath      string    // Command[0] as looked up in PATH, for the next spawns
	lease        int       // <name>.sup while this Daemon's Manager supervises it; -1
	notify       *notifier
	ct           *containment // KillCgroup: its cgroup; nil otherwise
	sv           *supervision // the Manager's record; nil for a lone Daemon
	logMu        sync.Mutex   // guards the two below, apart from own.mu: a ReadLog never holds up Poll
	logOffset    int64
	logOffSet    bool
	logWD        int32     // LogMaxBytes: the watch on the log while it is quiet; -1
	logCheckAt   time.Time // ... or when to look at its size again while it grows
	logSeen      int64     // ... its size at the last look
	logSeenAt    time.Time
	logRate      float64 // ... and how fast it grows, in bytes per second
	snapMu       sync.Mutex
	snap         snap          // what Status shows, as of the last request or round (publish)
	flags        atomic.Uint32 // flagDisabled, flagDirWatched: read by Status without a lock
	// Set by New, here at the end to fill what flags leaves of a word:
	// a Daemon of 1528 bytes (with the allocator's 8-byte header) takes
	// 1536 bytes of heap, one of 1536 takes 1792.
	lone bool // not in a Manager: Poll returns its events
}

// New checks spec and looks for a process of this daemon started earlier
// (by this program or another): one that holds the daemon's lock (or, if
// it closed its inherited fds, matches its identity record and leads its
// own session) is adopted, and the first Poll reports stopped → starting
// or running, reason adopted. Files that name any other process are
// reported by Status (Problem) and replaced by the next Start; that
// process is never signalled. New creates nothing, so it works on a
// read-only pid dir: dirs, the lock and the sockets are made by Start.
//
// The Daemon watches its pid dir for what other controllers do. It does
// not start anything. Each Daemon made by New has an inotify instance of
// its own (until Close), and Linux allows a user 128 of them by default
// (fs.inotify.max_user_instances): for many daemons in one program use a
// Manager, which watches all of them with one.
//
// Errors wrap ErrBadName, ErrBadSpec, ErrNoMain, ErrUnsafe (a pid dir or
// file another user could have written), ErrSymlink, or the system error
// of a pid dir that cannot be read.
func New(spec Spec) (*Daemon, error) {
	o := newOwner(0)
	d, err := makeDaemon(spec, o, true, 0)
	if err != nil {
		o.close()
		return nil, err
	}
	return d, nil
}

// makeDaemon makes a Daemon in o (a new one's, or a Manager's), whose
// events go on from Seq seq (that of the same daemon's last event, when its
// Manager removed it and adds it again).
func makeDaemon(spec Spec, o *owner, lone bool, seq uint64) (*Daemon, error) {
	if err := spec.check(); err != nil {
		return nil, err
	}
	spec = spec.withDefaults()
	cred, err := spec.credential()
	if err != nil {
		return nil, &Error{Op: "new", Daemon: spec.Name, Err: err}
	}
	d := &Daemon{spec: spec, cred: cred, f: newFiles(spec), lone: lone, heldLock: -1, lease: -1, dueIdx: -1, logWD: -1, seq: seq}
	d.m = machine{startSecs: spec.StartSecs, stopTimeout: spec.StopTimeout,
		needReady: spec.Ready != ReadyStartSecs, watchdog: spec.WatchdogSec, selfRestart: lone}
	if err := checkDir(spec.PIDDir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, &Error{Op: "new", Daemon: spec.Name, Err: err}
	}
	if err := d.containNew(); err != nil {
		return nil, &Error{Op: "new", Daemon: spec.Name, Err: err}
	}
	if spec.Ready != ReadyStartSecs {
		d.notify = newNotifier(spec.Ready, d.f.notifyPath(), d.f.readyPath())
	}
	o.mu.Lock()
	o.join(d) // its dir watched first: no change after the reads below goes unseen
	// Its files are read with the mutex released, so that Adds in several
	// goroutines read theirs at once (a CLI's status of thousands); a
	// round passes it by meanwhile, its work left for after (deferred).
	d.joining = true
	o.mu.Unlock()
	now := time.Now()
	d.readWant()
	d.readRecord()
	d.readDisabled()
	f := d.find()
	o.mu.Lock()
	defer o.mu.Unlock()
	d.joining = false
	d.adopt(now, f)
	d.finishFiles() // never hold the lock past New
	d.publish()
	o.resume(d)
	o.touch(d, markAll) // the first Poll reports what New found
	o.signal()
	return d, nil
}

func (d *Daemon) lock()   { d.own.mu.Lock() }
func (d *Daemon) unlock() { d.own.mu.Unlock() }

// Name returns the daemon's name.
func (d *Daemon) Name() string { return d.spec.Name }

// Spec returns the daemon's spec with defaults filled in.
func (d *Daemon) Spec() Spec { return d.spec }

// PIDFile returns the path of <PIDDir>/<name>.pid.
func (d *Daemon) PIDFile() string { return d.f.pidPath() }

// LogFile returns the path of <LogDir>/<name>.log.
func (d *Daemon) LogFile() string { return d.f.logPath() }

// State returns the state as of the last Poll or request; like Status it
// never waits for one under way. Safe for concurrent use.
func (d *Daemon) State() State { return d.current().st.State }

// PID returns the pid of the main process, or 0 when there is none (Stopped,
// Zombie), as of the last Poll or request; like Status it never waits for
// one under way. Safe for concurrent use.
func (d *Daemon) PID() int { return d.current().st.PID }

// IsRunning reports whether the main process is alive right now. Unlike
// kill(pid, 0) it says false for a process that has exited but is not yet
// reaped. It changes no state: the next Poll records the exit.
func (d *Daemon) IsRunning() bool {
	d.lock()
	defer d.unlock()
	return d.proc != nil && !d.mainExited && d.proc.alive()
}

// IsEnabled reports whether the daemon is enabled (no <name>.disabled),
// looking at the file now (Status says what the last Poll saw). Safe for
// concurrent use.
func (d *Daemon) IsEnabled() bool {
	off, _ := d.f.isDisabled()
	return !off
}

// markDisabled writes or removes <name>.disabled (Disable, Enable, and
// the Manager's), and Status says so at once.
func (d *Daemon) markDisabled(off bool) error {
	err := d.f.setDisabled(off)
	if err == nil {
		d.setFlag(flagDisabled, off)
	}
	return err
}

// dirLost is told by the owner's watch that the pid dir went away: the
// next spawn makes it again, and until it is watched again Status reads
// the disabled mark itself. A lease held is of a file no longer there,
// which no standby can see or take: it is given up, and taken again in a
// pid dir made again at that path (another supervisor would take that one
// meanwhile, and both would supervise). The caller holds the owner's
// mutex.
func (d *Daemon) dirLost() {
	d.setFlag(flagDirWatched, false)
	d.dirsMade = false
	if d.lease >= 0 {
		releaseLease(d.lease)
		d.lease = -1
		d.own.roles.Add(1)
	}
	d.leaseLooks = 0
}

// A Daemon's flags.
const (
	flagDisabled   = 1 << iota // <name>.disabled exists, as of the last look (Status shows it)
	flagDirWatched             // the pid dir is watched: flagDisabled is kept up to date
)

func (d *Daemon) setFlag(f uint32, on bool) {
	if on {
		d.flags.Or(f)
	} else {
		d.flags.And(^f)
	}
}

func (d *Daemon) flag(f uint32) bool { return d.flags.Load()&f != 0 }

// readDisabled looks whether <name>.disabled exists, for Status.
func (d *Daemon) readDisabled() {
	off, _ := d.f.isDisabled()
	d.setFlag(flagDisabled, off)
}

// Disable creates <name>.disabled: Start refuses with ErrDisabled until
// Enable, and supervisors do not restart the daemon. A running process is
// not stopped. Errors: ErrClosed (the Daemon, or its Manager, was closed),
// the system error of a pid dir that cannot be written.
func (d *Daemon) Disable() error {
	if err := d.inService(); err != nil {
		return &Error{Op: "disable", Daemon: d.spec.Name, Err: err}
	}
	if err := d.markDisabled(true); err != nil {
		return &Error{Op: "disable", Daemon: d.spec.Name, Err: err}
	}
	return nil
}

// Enable removes <name>.disabled. Errors: as Disable's.
func (d *Daemon) Enable() error {
	if err := d.inService(); err != nil {
		return &Error{Op: "enable", Daemon: d.spec.Name, Err: err}
	}
	if err := d.markDisabled(false); err != nil {
		return &Error{Op: "enable", Daemon: d.spec.Name, Err: err}
	}
	return nil
}

// Wake fires (a channel of capacity 1, never blocking its sender) when Poll
// has work: an exit, a deadline, a readiness message, a change another
// controller made in the pid dir, or events waiting for room on Events.
// The first call starts the Daemon's one background goroutine, which Close
// stops; without a call there is none (poll on a ticker instead). A Daemon
// of a Manager has no Wake of its own: use the Manager's.
func (d *Daemon) Wake() <-chan struct{} {
	d.lock()
	defer d.unlock()
	if d.lone {
		d.own.startWaker()
	}
	return d.own.wake
}

// Events carries the Daemon's events, in order, none dropped, from the
// first call on (earlier ones were only returned by Poll). Poll delivers
// them; what the channel cannot take waits for a later Poll, and Wake fires
// meanwhile. Close closes it. A Daemon of a Manager returns the Manager's
// channel, which carries every daemon's events.
func (d *Daemon) Events() <-chan Event {
	d.lock()
	defer d.unlock()
	if d.own.events == nil {
		d.own.events = make(chan Event, 64)
		if d.own.closed { // asked for after Close: closed too, so a range ends
			close(d.own.events)
		}
	}
	return d.own.events
}

// Close releases the Daemon's fds and stops its goroutine; for a lone
// Daemon it closes Events. It does not stop the process, which keeps
// running and can be adopted by a new Daemon. A Daemon of a Manager is
// closed by the Manager's Close or Remove. A closed Daemon's requests
// (Start, Stop, Signal, ...), Enable, Disable and WriteInput fail with
// ErrClosed, and its Poll does nothing; Status, IsEnabled, ReadLog and
// the other looks still answer.
func (d *Daemon) Close() error {
	d.lock()
	defer d.unlock()
	if !d.lone {
		return nil
	}
	d.own.waitSpawn(d)
	d.release()
	d.own.leave(d)
	d.own.close()
	return nil
}

// release closes the daemon's fds. The caller holds the lock.
func (d *Daemon) release() {
	d.releaseKeeping()
	d.dropLease()
}

// dropLease gives up the supervision lease, if d holds it.
func (d *Daemon) dropLease() {
	if d.lease >= 0 {
		// The record says nobody supervises it now (after a SIGKILL the
		// others see the lease free and take the pid for stale).
		d.rec.Supervisor = 0
		d.f.writeStatus(d.rec)
		releaseLease(d.lease)
		d.lease = -1
		d.own.roles.Add(1)
		d.publish() // what a closed Manager's Status says from now on
	}
}

// releaseKeeping closes the daemon's fds but its lease (dropLease's).
func (d *Daemon) releaseKeeping() {
	if d.proc != nil {
		d.unwatchProc()
		d.proc.close()
	}
	if d.notify != nil {
		d.unwatchNotify()
		d.notify.close()
	}
	if d.heldLock >= 0 {
		releaseLock(d.heldLock)
		d.heldLock = -1
	}
	d.unwatchLog()
	d.containUnwatch()
}

// Start starts the daemon with data (a Func daemon gets it as its argument,
// a Command daemon on stdin; nil means Spec.Data, and without that stdin is
// /dev/null), detached in its own session, and returns at once with state
// Starting.
//
// Already starting or running (here, or found through its files): nil, and
// nothing is spawned. Stopping: the start is done once the process is gone.
// When another controller supervises the daemon (a Manager holds its lease,
// as `launcher up` does), Start only asks it to, through <name>.want, and
// the state changes when the supervisor's process is seen.
//
// Errors: ErrDisabled, ErrZombie, ErrBusy (another controller is starting it
// right now), ErrExec (the command cannot be executed; the state stays
// Stopped, no file claims a process, and a start-failed note event carries
// the same error), ErrUnsafe, ErrSymlink, ErrClosed (the Daemon or its
// Manager was closed, or Remove took it out: nothing is done), or the
// system error of a dir that cannot be made or written.
func (d *Daemon) Start(data []byte) error {
	d.lock()
	defer d.unlock()
	d.own.waitSpawn(d)
	d.own.openSpawn = d // a Status from another goroutine need not wait for the fork and exec
	defer func() { d.own.openSpawn = nil }()
	return d.errorf("start", d.request(inStart, data, ReasonNone, time.Now()))
}

// Restart stops the daemon and, once Poll has seen it gone, starts it again
// with data. A stopped daemon is started at once. Errors: as Start's.
func (d *Daemon) Restart(data []byte) error {
	d.lock()
	defer d.unlock()
	d.own.waitSpawn(d)
	d.own.openSpawn = d // a Status from another goroutine need not wait for the fork and exec
	defer func() { d.own.openSpawn = nil }()
	return d.errorf("restart", d.request(inRestart, data, ReasonNone, time.Now()))
}

// Stop sends StopSignal and SIGCONT (to the process group with KillGroup)
// and returns; Poll sends SIGKILL when StopTimeout passes. Stopped or
// already stopping: nil. A Zombie's leftovers are signalled. When another
// controller supervises the daemon, Stop asks it to (<name>.want). Errors:
// the system error of a signal that could not be sent.
func (d *Daemon) Stop() error {
	d.lock()
	defer d.unlock()
	d.own.waitSpawn(d)
	return d.errorf("stop", d.request(inStop, nil, ReasonNone, time.Now()))
}

// ForceStop sends SIGKILL (to the process group with KillGroup), whoever
// supervises the daemon (it is wanted down first, so a supervisor does not
// restart it). Errors: as Stop's.
func (d *Daemon) ForceStop() error {
	d.lock()
	defer d.unlock()
	d.own.waitSpawn(d)
	return d.errorf("force-stop", d.request(inForceStop, nil, ReasonNone, time.Now()))
}

// Signal sends sig to the main process (only), through its pidfd.
// ErrNotRunning when there is none.
func (d *Daemon) Signal(sig syscall.Signal) error {
	d.lock()
	defer d.unlock()
	d.own.waitSpawn(d)
	if err := d.outOfService(); err != nil {
		return &Error{Op: "signal", Daemon: d.spec.Name, Err: err}
	}
	if d.proc == nil || d.mainExited {
		return &Error{Op: "signal", Daemon: d.spec.Name, Err: ErrNotRunning}
	}
	return d.errorf("signal", d.proc.signal(sig))
}

func (d *Daemon) errorf(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Op: op, Daemon: d.spec.Name, Err: err}
}

// Poll looks at the daemon without waiting: reaps its exit (WNOHANG, its own
// pid only), reads its readiness messages, checks StartSecs, StopTimeout
// and the watchdog against now, and reads what other controllers changed in
// its files. It returns the events made since the last Poll (by it and by
// requests), oldest first: nil when there are none, with no allocation.
// The same events go on Events once that has been asked for; use one or
// the other.
//
// A Daemon of a Manager: Poll looks at this daemon only, and returns the
// events this call made; they also go on the Manager's Events.
func (d *Daemon) Poll(now time.Time) []Event {
	d.lock()
	defer d.unlock()
	if d.outOfService() != nil {
		return nil
	}
	if !d.lone {
		d.lone = true // capture this call's events in queue
		defer func() { d.lone = false }()
	}
	d.own.touch(d, markExit|markNotify|markReady|markDue)
	d.own.poll(now)
	if len(d.queue) == 0 {
		return nil
	}
	evs := d.queue
	d.queue = nil
	return evs
}

// Deadline returns the next time at which Poll has timed work to do (the
// end of StartSecs, StopTimeout, the watchdog), or the zero time when there
// is none. Wake fires then by itself; a caller polling on its own ticker
// can use it instead.
func (d *Daemon) Deadline() time.Time {
	d.lock()
	defer d.unlock()
	return d.nextDue()
}

// writable reports whether this controller can write the pid dir (a look
// at a read-only one acts on nothing but signals).
func (d *Daemon) writable() bool { return unix.Access(d.f.dir, unix.W_OK) == nil }
