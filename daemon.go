package launcher

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Daemon is one named process under control. Its methods are safe for
// concurrent use and never block: each returns after a bounded number of
// cheap system calls (Start also forks and execs).
//
// State changes are observed only by Poll, which the caller runs whenever it
// likes (on a ticker, or when a Manager's Wake fires). Start, Stop and the
// other requests apply at once and queue their events; the next Poll
// returns them, in order, with the ones it makes.
//
// A Daemon holds a pidfd while its process lives; Close releases it. Closing
// does not stop the process: daemons outlive their controller, and a new
// Daemon of the same name (in this process or another) adopts them.
type Daemon struct {
	spec  Spec // defaults applied
	cred  *syscall.Credential
	files struct{ pid, id, lock, disabled, stdin, log string }

	mu           sync.Mutex
	state        State
	reason       Reason
	since        time.Time
	proc         *process // nil in Stopped
	mainExited   bool     // proc has exited (Zombie, or Stopping from Zombie)
	exitReason   Reason   // reason of the exit transition, for Zombie → Stopped
	lastExit     *ExitStatus
	confirmAt    time.Time // Starting: when it counts as running; zero until Poll sets it
	stopAt       time.Time // Stopping: when to send SIGKILL; zero until Poll sets it
	stopPending  bool      // Stop was asked; Poll sets stopAt
	escalated    bool      // SIGKILL was sent at StopTimeout
	restart      bool      // start again once gone
	restartData  []byte
	restartWhy   Reason // the reason the start after a restart carries
	seq          uint64
	queue        []Event
	logOffset    int64
	logOffSet    bool
	notify       *notifier // readiness channel; nil with ReadyStartSecs
	lastBeat     time.Time // last WATCHDOG=1 (or confirmation)
	statusText   string    // last STATUS= of sd_notify
	quitting     bool      // it sent STOPPING=1
	nextLogCheck time.Time // LogMaxBytes: when Poll looks at the log's size again
}

// New checks spec, creates the pid and log dirs if missing, and looks for a
// process of this daemon started earlier (by this program or another): a
// live one whose identity matches is adopted (the first Poll reports
// stopped → running, reason adopted); stale files that name a dead process,
// or somebody else's process, are removed under the lock and that process
// is never signalled. New does not start anything.
//
// Errors wrap ErrBadName, ErrBadSpec, ErrNoMain, ErrBadPIDFile,
// ErrBadIdentity, ErrSymlink or the system error for a dir that cannot be
// created or written.
func New(spec Spec) (*Daemon, error) {
	fail := func(err error) (*Daemon, error) { return nil, &Error{Op: "new", Daemon: spec.Name, Err: err} }
	if !ValidName(spec.Name) {
		return nil, &Error{Op: "new", Err: detail(ErrBadName, "%q: want [A-Za-z0-9._-]+, no leading dot", spec.Name)}
	}
	switch {
	case len(spec.Command) == 0 && spec.Func == "":
		return fail(detail(ErrBadSpec, "neither Command nor Func is set"))
	case len(spec.Command) > 0 && spec.Func != "":
		return fail(detail(ErrBadSpec, "both Command and Func are set"))
	case len(spec.Command) > 0 && spec.Command[0] == "":
		return fail(detail(ErrBadSpec, "empty program name"))
	case spec.Func != "" && registered(spec.Func) == nil:
		return fail(detail(ErrBadSpec, "no function %q is registered", spec.Func))
	case spec.Func != "" && !mainCalled.Load():
		return fail(detail(ErrNoMain, "Func daemons re-exec this program"))
	case spec.StopSignal < 0 || spec.StopSignal > 64:
		return fail(detail(ErrBadSpec, "stop signal %d", int(spec.StopSignal)))
	case spec.Ready > ReadyFD:
		return fail(detail(ErrBadSpec, "ready mode %d", spec.Ready))
	case spec.NotifyFD != 0 && spec.NotifyFD < 4:
		return fail(detail(ErrBadSpec, "notify fd %d: 0-3 are taken (stdio and the lock)", spec.NotifyFD))
	case spec.WatchdogSec != 0 && spec.Ready != ReadyNotify:
		return fail(detail(ErrBadSpec, "WatchdogSec needs Ready: ReadyNotify"))
	}
	for _, kv := range spec.Env {
		if !strings.Contains(kv, "=") {
			return fail(detail(ErrBadSpec, "env entry %q is not KEY=value", kv))
		}
	}
	spec = spec.withDefaults()
	cred, err := spec.credential()
	if err != nil {
		return fail(err)
	}
	d := &Daemon{spec: spec, cred: cred}
	base := filepath.Join(spec.PIDDir, spec.Name)
	d.files.pid, d.files.id, d.files.lock, d.files.disabled = base+".pid", base+".id", base+".lock", base+".disabled"
	d.files.stdin = base + ".stdin"
	d.files.log = filepath.Join(spec.LogDir, spec.Name+".log")
	for _, dir := range []string{spec.PIDDir, spec.LogDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fail(err)
		}
	}
	if spec.Ready != ReadyStartSecs {
		if d.notify, err = openNotifier(spec.Ready, base+".notify"); err != nil {
			return fail(err)
		}
	}
	if err := d.adopt(time.Now()); err != nil {
		d.Close()
		return fail(err)
	}
	if err := checkWritable(spec.LogDir); err != nil {
		d.Close()
		return fail(err)
	}
	return d, nil
}

// checkWritable finds a log dir that cannot take a log now rather than at
// the first Start.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".launcher-check-")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

// Name returns the daemon's name.
func (d *Daemon) Name() string { return d.spec.Name }

// Spec returns the daemon's spec with defaults filled in.
func (d *Daemon) Spec() Spec { return d.spec }

// PIDFile returns the path of <PIDDir>/<name>.pid.
func (d *Daemon) PIDFile() string { return d.files.pid }

// LogFile returns the path of <LogDir>/<name>.log.
func (d *Daemon) LogFile() string { return d.files.log }

// State returns the state as of the last Poll or request.
func (d *Daemon) State() State {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

// PID returns the pid of the main process, or 0 when there is none (Stopped,
// Zombie).
func (d *Daemon) PID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc == nil || d.mainExited {
		return 0
	}
	return d.proc.pid
}

// IsRunning reports whether the main process is alive right now. Unlike
// kill(pid, 0) it says false for a process that has exited but is not yet
// reaped. It changes no state: the next Poll records the exit.
func (d *Daemon) IsRunning() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.proc != nil && !d.mainExited && d.proc.alive()
}

// Status is a snapshot of one daemon.
type Status struct {
	Name     string
	State    State
	Reason   Reason      // why it entered State
	PID      int         // the main process, 0 when there is none
	Since    time.Time   // when it entered State (zero before the first transition)
	LastExit *ExitStatus // the last exit seen (nil: none, or unknown)
	Enabled  bool
	// StatusText is the last STATUS= the daemon sent (ReadyNotify).
	StatusText string
	// Uptime is how long it has been running (Running only).
	Uptime time.Duration
	// CPUTime (user + system) and RSS (bytes) of the main process, read
	// from /proc; zero when there is no process.
	CPUTime time.Duration
	RSS     int64

	// Filled in by Manager.Status only:
	WantUp      bool      // the Manager wants it up
	Restarts    int       // restarts made by the Manager
	GaveUp      bool      // the Manager gave up restarting it
	NextRestart time.Time // when the Manager restarts it (zero: not scheduled)
}

// Status returns a snapshot of the daemon as of the last Poll or request.
func (d *Daemon) Status() Status {
	enabled := d.IsEnabled()
	d.mu.Lock()
	defer d.mu.Unlock()
	st := Status{Name: d.spec.Name, State: d.state, Reason: d.reason, Since: d.since,
		LastExit: d.lastExit, Enabled: enabled, StatusText: d.statusText}
	if d.proc != nil && !d.mainExited {
		st.PID = d.proc.pid
		if ps, err := readProcStat(st.PID); err == nil && ps.startTicks == d.proc.start {
			st.CPUTime = time.Duration(ps.cpuTicks) * (time.Second / clockTicks)
			st.RSS = ps.rssPages * int64(os.Getpagesize())
		}
	}
	if d.state == Running && !d.since.IsZero() {
		st.Uptime = time.Since(d.since)
	}
	return st
}

// startBy starts a stopped daemon for a supervisor, the event carrying
// reason.
func (d *Daemon) startBy(now time.Time, reason Reason) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != Stopped {
		return nil
	}
	if err := d.start(nil, now, reason); err != nil {
		return &Error{Op: "start", Daemon: d.spec.Name, Err: err}
	}
	return nil
}

// note records a supervisor's decision that changes no state (gave-up, a
// failed start) as an event.
func (d *Daemon) note(now time.Time, r Reason, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.emit(now, d.state, r, nil, err)
}

// drain returns the events queued by requests since the last Poll.
func (d *Daemon) drain() []Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	evs := d.queue
	d.queue = nil
	return evs
}

// fds returns the main process's pid and pidfd (-1 when there is none) and
// the readiness fd (-1) for a Manager's waker.
func (d *Daemon) fds() (pid, pidfd, notifyFD int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	pidfd, notifyFD = -1, -1
	if d.proc != nil && !d.mainExited {
		pid, pidfd = d.proc.pid, d.proc.pidfd
	}
	if d.notify != nil {
		notifyFD = d.notify.fd
	}
	return pid, pidfd, notifyFD
}

// Deadline returns the next time at which Poll has timed work to do (the
// end of StartSecs, or StopTimeout), or the zero time when there is none.
// Right after a request (Start, Stop) it is the time of the request, since
// the next Poll fixes the request's deadline. Exits are not timed: a caller without
// a Manager (whose Wake fires on exits) polls on its own ticker as well.
func (d *Daemon) Deadline() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if (d.state == Starting && d.confirmAt.IsZero() && d.notify == nil) || d.stopPending {
		earliest(d.since) // a request's deadline is fixed by the next Poll: now
	}
	if d.state == Starting {
		earliest(d.confirmAt)
	}
	if (d.state == Stopping || d.state == Zombie) && !d.escalated {
		earliest(d.stopAt)
	}
	if d.state == Running && d.spec.WatchdogSec > 0 && !d.lastBeat.IsZero() && !d.quitting {
		earliest(d.lastBeat.Add(d.spec.WatchdogSec))
	}
	if d.spec.LogMaxBytes > 0 && d.state != Stopped {
		earliest(d.nextLogCheck)
		if d.nextLogCheck.IsZero() {
			earliest(d.since)
		}
	}
	return next
}

// IsEnabled reports whether the daemon is enabled (no <name>.disabled).
func (d *Daemon) IsEnabled() bool {
	_, err := os.Lstat(d.files.disabled)
	return errors.Is(err, os.ErrNotExist)
}

// Disable creates <name>.disabled: Start refuses with ErrDisabled until
// Enable, and supervisors do not restart the daemon. A running process is
// not stopped.
func (d *Daemon) Disable() error {
	fd, err := unix.Open(d.files.disabled, unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return &Error{Op: "disable", Daemon: d.spec.Name, Err: &os.PathError{Op: "create", Path: d.files.disabled, Err: err}}
	}
	return unix.Close(fd)
}

// Enable removes <name>.disabled.
func (d *Daemon) Enable() error {
	if err := os.Remove(d.files.disabled); err != nil && !errors.Is(err, os.ErrNotExist) {
		return &Error{Op: "enable", Daemon: d.spec.Name, Err: err}
	}
	return nil
}

// Close releases the pidfd. It does not stop the daemon, which keeps
// running and can be adopted by a new Daemon. Using d after Close is
// allowed but it no longer sees the process.
func (d *Daemon) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc != nil {
		d.proc.close()
	}
	if d.notify != nil {
		d.notify.close()
	}
	return nil
}

// Start starts the daemon with data (a Func daemon gets it as its argument,
// a Command daemon on stdin; nil means stdin is /dev/null), detached in its
// own session, and returns at once with state Starting.
//
// Already starting or running (here, or found through its files): nil, and
// nothing is spawned. Stopping: the start is done once the process is gone.
// Errors: ErrDisabled, ErrZombie, ErrBusy (another controller holds the lock
// and is starting it right now), ErrExec (the command cannot be executed;
// the state stays Stopped and no file claims a process).
func (d *Daemon) Start(data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.IsEnabled() {
		return &Error{Op: "start", Daemon: d.spec.Name, Err: ErrDisabled}
	}
	switch d.state {
	case Starting, Running:
		return nil
	case Stopping:
		d.restart, d.restartData, d.restartWhy = true, data, ReasonRequested
		return nil
	case Zombie:
		return &Error{Op: "start", Daemon: d.spec.Name, Err: ErrZombie}
	}
	if err := d.start(data, time.Now(), ReasonNone); err != nil {
		return &Error{Op: "start", Daemon: d.spec.Name, Err: err}
	}
	return nil
}

// Restart stops the daemon and, once Poll has seen it gone, starts it again
// with data. A stopped daemon is started at once.
func (d *Daemon) Restart(data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.state {
	case Stopped:
		if !d.IsEnabled() {
			return &Error{Op: "restart", Daemon: d.spec.Name, Err: ErrDisabled}
		}
		if err := d.start(data, time.Now(), ReasonNone); err != nil {
			return &Error{Op: "restart", Daemon: d.spec.Name, Err: err}
		}
		return nil
	case Stopping:
	default:
		d.apply(input{kind: inStop}, time.Now())
	}
	d.restart, d.restartData, d.restartWhy = true, data, ReasonRequested
	return nil
}

// Stop sends StopSignal and SIGCONT (to the process group with KillGroup)
// and returns; Poll sends SIGKILL when StopTimeout passes. Stopped or
// already stopping: nil. A Zombie's leftovers are signalled.
func (d *Daemon) Stop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.restart = false
	return d.errorf("stop", d.apply(input{kind: inStop}, time.Now()))
}

// ForceStop sends SIGKILL (to the process group with KillGroup).
func (d *Daemon) ForceStop() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.restart = false
	return d.errorf("force-stop", d.apply(input{kind: inForceStop}, time.Now()))
}

// Signal sends sig to the main process (only), through its pidfd.
// ErrNotRunning when there is none.
func (d *Daemon) Signal(sig syscall.Signal) error {
	d.mu.Lock()
	defer d.mu.Unlock()
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
// pid only), checks StartSecs and StopTimeout against now, notices when the
// leftovers are gone, and starts it again when a restart is pending. It
// returns the events made since the last Poll, oldest first (nil when there
// are none, with no allocation).
func (d *Daemon) Poll(now time.Time) []Event {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.poll(now)
	if len(d.queue) == 0 {
		return nil
	}
	evs := d.queue
	d.queue = nil
	return evs
}

func (d *Daemon) poll(now time.Time) {
	if d.state == Stopped || d.proc == nil {
		return
	}
	d.rotateLog(now)
	if !d.mainExited {
		exited, st, _ := d.proc.check()
		if exited {
			d.mainExited = true
			d.lastExit = st
			d.proc.close()
			d.apply(input{kind: inExited, exit: st, escalated: d.escalated}, now)
			d.exitReason = d.reason
			d.logMarker(now, exitMarker(d.proc.pid, st))
		}
	}
	if d.stopPending {
		d.stopPending = false
		d.stopAt = now.Add(d.spec.StopTimeout)
	}
	switch {
	case d.mainExited:
		d.pollGone(now)
	case d.notify != nil:
		d.pollNotify(now)
	case d.state == Starting:
		if d.confirmAt.IsZero() {
			d.confirmAt = now.Add(max(d.spec.StartSecs, 0))
		}
		if !now.Before(d.confirmAt) {
			d.apply(input{kind: inConfirm}, now)
		}
	}
	if (d.state == Stopping || d.state == Zombie) && !d.stopAt.IsZero() && !d.escalated && !now.Before(d.stopAt) {
		d.apply(input{kind: inStopTimeout}, now)
		d.escalated = true
	}
}

// pollNotify reads the readiness channel of a live daemon: READY confirms
// a starting one; WATCHDOG=1 feeds the watchdog, which restarts a running
// daemon that went quiet for WatchdogSec.
func (d *Daemon) pollNotify(now time.Time) {
	m := d.notify.read(d.proc.pid)
	if m.hasStatus {
		d.statusText = m.status
	}
	if m.watchdog {
		d.lastBeat = now
	}
	if m.stopping {
		d.quitting = true // it is shutting down by itself: no watchdog now
	}
	if m.ready && d.state == Starting {
		d.lastBeat = now
		d.apply(input{kind: inConfirm}, now)
	}
	if d.state == Running && d.spec.WatchdogSec > 0 && !d.quitting {
		if d.lastBeat.IsZero() {
			d.lastBeat = now
		}
		if now.Sub(d.lastBeat) >= d.spec.WatchdogSec {
			d.apply(input{kind: inStop, reason: ReasonWatchdog}, now)
			d.restart, d.restartData, d.restartWhy = true, nil, ReasonWatchdog
		}
	}
}

// pollGone finishes a daemon whose main process has exited: when nothing of
// it is left (no lock holder, no live process in its group) it removes the
// pid files under the lock and goes Stopped, then starts again if asked.
func (d *Daemon) pollGone(now time.Time) {
	fd, err := openLock(d.files.lock)
	if err != nil {
		return // stay Zombie: cannot prove it is gone
	}
	defer func() {
		if fd >= 0 {
			releaseLock(fd)
		}
	}()
	if got, _ := tryLock(fd); !got {
		return // somebody left behind holds the lock
	}
	if d.spec.KillMode == KillGroup && d.proc.group && groupIsOurs(d.proc.pid, d.proc.start) && groupAlive(d.proc.pid) {
		return
	}
	removePIDFiles(d.files.pid, d.files.id)
	d.apply(input{kind: inGone, reason: d.exitReason, escalated: d.escalated}, now)
	releaseLock(fd)
	fd = -1
	if d.restart && d.state == Stopped {
		d.restart = false
		data := d.restartData
		d.restartData = nil
		if !d.IsEnabled() {
			d.emit(now, Stopped, ReasonDisabled, nil, ErrDisabled)
			return
		}
		if err := d.start(data, now, d.restartWhy); err != nil {
			d.emit(now, Stopped, ReasonStartFailed, nil, err)
		}
	}
}

// apply feeds one input to the state machine, carries out its actions and
// records its event. It returns the request's refusal or the error of a
// signal that could not be sent.
func (d *Daemon) apply(in input, now time.Time) error {
	t := step(d.state, in)
	if t.err != nil {
		return t.err
	}
	var err error
	if t.acts&actSignalStop != 0 {
		err = d.sendSignal(d.spec.StopSignal)
		if err == nil {
			err = d.sendSignal(syscall.SIGCONT)
		}
		d.stopPending, d.stopAt, d.escalated = true, time.Time{}, false
	}
	if t.acts&actKill != 0 {
		err = d.sendSignal(syscall.SIGKILL)
	}
	if t.event {
		d.emit(now, t.to, t.reason, in.exit, err)
	}
	if t.to == Stopped && d.proc != nil {
		d.proc.close()
		d.proc = nil
		d.mainExited, d.confirmAt, d.stopAt, d.stopPending, d.escalated = false, time.Time{}, time.Time{}, false, false
	}
	if errors.Is(err, ErrNotRunning) {
		err = nil // it exited meanwhile: the next Poll reports that
	}
	return err
}

// emit records one transition (or, with to == the current state, a failed
// request) as an event.
func (d *Daemon) emit(now time.Time, to State, r Reason, exit *ExitStatus, err error) {
	d.seq++
	pid := 0
	if d.proc != nil {
		pid = d.proc.pid
	}
	d.queue = append(d.queue, Event{Seq: d.seq, Time: now, Daemon: d.spec.Name, From: d.state, To: to,
		Reason: r, PID: pid, Exit: exit, Err: err})
	if to != d.state {
		d.since = now
	}
	d.state, d.reason = to, r
}

// sendSignal signals the daemon: with KillGroup its whole process group
// (the main process included), else the main process alone, through its
// pidfd; a Zombie's leftovers, whatever the KillMode. Each process gets the
// signal once: a second SIGTERM could land after a Go daemon has handled
// the first and restored the default action, and kill it.
//
// The group is signalled by its number, which is the main process's pid:
// while that process lives (we hold its pidfd, and an own child is not
// reaped until Poll) the number is its; after, groupIsOurs checks it.
func (d *Daemon) sendSignal(sig syscall.Signal) error {
	if d.proc == nil {
		return ErrNotRunning
	}
	group := (d.spec.KillMode == KillGroup || d.mainExited) && d.proc.group
	if group && (d.mainExited && groupIsOurs(d.proc.pid, d.proc.start) || !d.mainExited && d.proc.alive()) {
		err := signalGroupSafe(d.proc.pid, sig)
		if err == nil || d.mainExited {
			return err
		}
		// Some member is not ours to signal (EPERM): the main one is.
	}
	if d.mainExited {
		return nil
	}
	return d.proc.signal(sig)
}

// start spawns the daemon from Stopped. The caller holds d.mu.
func (d *Daemon) start(data []byte, now time.Time, reason Reason) error {
	lockfd, err := openLock(d.files.lock)
	if err != nil {
		return err
	}
	spawned := false
	defer func() {
		if spawned {
			unix.Close(lockfd) // the daemon holds the lock now, through its copy
		} else {
			releaseLock(lockfd)
		}
	}()
	got, err := tryLock(lockfd)
	if err != nil {
		return err
	}
	// Whether or not we got the lock, a live process that the files
	// describe is ours to adopt: already running.
	p, err := d.findRunning()
	if err != nil {
		return err
	}
	if p != nil && p.alive() {
		d.proc = p
		d.apply(input{kind: inAdoptRunning}, now)
		d.since = startWallTime(p.start) // running since it started, not since we looked
		return nil
	}
	if p != nil {
		p.check() // it exited unwatched: reap it if it is our child
		p.close()
	}
	if !got {
		return ErrBusy
	}
	if err := removePIDFiles(d.files.pid, d.files.id); err != nil {
		return err
	}
	req, id, err := d.spawnRequest(lockfd)
	if err != nil {
		return err
	}
	if d.spec.InputFIFO {
		req.stdin, err = openInputFIFO(d.files.stdin, data)
	} else {
		req.stdin, err = openStdin(data)
	}
	if err != nil {
		return err
	}
	defer unix.Close(req.stdin)
	// The log dir may have been removed since New: make it again, as
	// the seed does, rather than fail.
	if err := os.MkdirAll(d.spec.LogDir, 0o755); err != nil {
		return err
	}
	if req.log, err = openLog(d.files.log); err != nil {
		return err
	}
	defer unix.Close(req.log)
	if d.notify != nil {
		if req.notify, err = d.notify.prepare(); err != nil {
			return err
		}
		defer d.notify.spawned()
	}
	p, err = spawn(req)
	if err != nil {
		return detail(ErrExec, "%s: %v", strings.Join(d.spec.Command, " ")+d.spec.Func, err)
	}
	spawned = true
	id.PID, id.StartTicks, id.Started = p.pid, p.start, now
	d.proc = p
	d.lastBeat, d.statusText, d.quitting = time.Time{}, "", false
	d.apply(input{kind: inStart, reason: reason}, now)
	writeMarker(req.log, now, "started pid "+strconv.Itoa(p.pid))
	if err := writePIDFiles(d.files.pid, d.files.id, id); err != nil {
		// The process is ours but no file says so: kill it rather than
		// leave it untracked, and let Poll reap it.
		d.apply(input{kind: inForceStop}, now)
		return err
	}
	return nil
}

// spawnRequest resolves what to run; req.stdin and req.log are left to the
// caller.
func (d *Daemon) spawnRequest(lockfd int) (spawnRequest, identity, error) {
	s := d.spec
	req := spawnRequest{dir: s.Dir, umask: s.Umask, cred: d.cred, lock: lockfd, stdin: -1, log: -1,
		notify: -1, notifyNum: s.NotifyFD}
	id := identity{BootID: bootID(), PIDNS: pidNS(), Token: newToken()}
	env := os.Environ()
	if s.Func != "" {
		exe, err := os.Executable()
		if err != nil {
			return req, id, detail(ErrExec, "cannot find this program: %v", err)
		}
		req.path, req.argv = exe, []string{exe, "launcher-func=" + s.Name}
		env = append(env, envFunc+"="+s.Func, envToken+"="+id.Token,
			envStopSig+"="+strconv.Itoa(int(s.StopSignal)))
		if s.Umask != 0 {
			env = append(env, envUmask+"="+strconv.FormatUint(uint64(s.Umask), 8))
			req.umask = 0 // the function sets it itself
		}
		id.Func = s.Func
	} else {
		path, err := exec.LookPath(s.Command[0])
		if err != nil && !errors.Is(err, exec.ErrDot) {
			return req, id, detail(ErrExec, "%s: %v", s.Command[0], unwrapExec(err))
		}
		if !filepath.IsAbs(path) {
			path, _ = filepath.Abs(path)
		}
		req.path, req.argv = path, s.Command
		id.Command = s.Command
	}
	if d.notify != nil {
		env = append(env, d.notify.env()...)
	}
	if s.WatchdogSec > 0 {
		env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(s.WatchdogSec.Microseconds(), 10))
	}
	req.env = mergeEnv(env, s.Env)
	return req, id, nil
}

func unwrapExec(err error) error {
	var e *exec.Error
	if errors.As(err, &e) {
		return e.Err
	}
	return err
}

// mergeEnv appends extra to env, later keys replacing earlier ones.
func mergeEnv(env, extra []string) []string {
	if len(extra) == 0 {
		return env
	}
	out := make([]string, 0, len(env)+len(extra))
	seen := map[string]int{}
	for _, kv := range append(env, extra...) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[k]; ok {
			out[i] = kv
			continue
		}
		seen[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// exitMarker is the log line launcher writes when a daemon's process ends.
func exitMarker(pid int, st *ExitStatus) string {
	p := "pid " + strconv.Itoa(pid)
	switch {
	case st == nil:
		return p + " exited, status unknown (adopted)"
	case st.Signal != 0:
		return p + " killed by " + st.String()
	default:
		return p + " exited with status " + strconv.Itoa(st.Code)
	}
}

// writeMarker appends a timestamped line of the controller's to the log.
func writeMarker(fd int, now time.Time, msg string) {
	unix.Write(fd, []byte(now.UTC().Format(time.RFC3339Nano)+" launcher: "+msg+"\n"))
}

// logMarker opens the log to append one marker line.
func (d *Daemon) logMarker(now time.Time, msg string) {
	fd, err := openLog(d.files.log)
	if err != nil {
		return
	}
	writeMarker(fd, now, msg)
	unix.Close(fd)
}
