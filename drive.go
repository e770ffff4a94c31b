// drive.go drives one daemon: it feeds the state machine the caller's
// requests and a round's observations (changed files, an exit, readiness,
// deadlines), carries out the actions step returns (apply), and records
// the events. Every method of the Daemon in this file and in adopt.go,
// exit.go, signal.go, readiness.go and start.go runs with the owner's mutex
// held.

package launcher

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// makeDirs makes the pid and log dirs, once, and watches the pid dir.
func (d *Daemon) makeDirs() error {
	if d.dirsMade {
		return nil
	}
	if err := d.f.ensureDirs(); err != nil {
		return err
	}
	if d.own.hub != nil {
		d.own.hub.watchDir(d.f.dir, d.f.name, d)
	}
	d.dirsMade = true
	return nil
}

// outOfService says why d takes no requests, nil while it does: it was
// closed (its own Close, or its Manager's), or removed from its Manager.
// A request then would run a round of an owner whose Events channel is
// closed (a panic), or spawn a process that nobody watches. The caller
// holds the lock.
func (d *Daemon) outOfService() error {
	switch {
	case d.own.closed && !d.lone:
		return errClosed
	case d.own.closed: // a lone Daemon's Close (it takes the Daemon out too)
		return fmt.Errorf("daemon is %w", ErrClosed)
	case d.left:
		return fmt.Errorf("daemon was removed from its Manager: %w", ErrClosed)
	}
	return nil
}

// inService is outOfService for a caller that does not hold the owner's
// mutex.
func (d *Daemon) inService() error {
	d.lock()
	defer d.unlock()
	return d.outOfService()
}

// request applies a caller's request. When another controller supervises
// the daemon, a start, stop or restart is only written as an intent to
// <name>.want; that supervisor carries it out and the state follows what
// it does.
func (d *Daemon) request(kind inputKind, data []byte, why Reason, now time.Time) error {
	if err := d.outOfService(); err != nil {
		return err
	}
	if kind == inStart || kind == inRestart {
		if off, err := d.f.isDisabled(); off {
			return errors.Join(ErrDisabled, err)
		}
	}
	if kind == inStart || kind == inRestart {
		// The wish is written first (a supervisor may carry it out): the
		// dirs must be there for it.
		if err := d.makeDirs(); err != nil {
			return err
		}
	}
	w := d.wantRec
	w.Up = kind == inStart || kind == inRestart
	w.Kill = kind == inForceStop
	gaveUp := d.rec.GaveUp || d.sv != nil && d.sv.gaveUp
	if kind == inRestart || kind == inStart && gaveUp && d.m.state == Stopped {
		// A start of one its supervisor gave up on is a new wish, though
		// it was wanted up all along: the new generation says so.
		w.Gen++
	}
	// Where another controller supervises the daemon, a request is an
	// intent for it; a kill is done at once, the daemon wanted down first.
	held := d.lease < 0 && d.f.leaseHeld()
	elsewhere := held && kind != inForceStop
	if (kind == inStop || kind == inForceStop) && d.lease < 0 && !held && d.m.state != Stopped {
		d.stoppedHere = true // no supervisor will log and record its end: this one does
	}
	if w != d.wantRec || !d.wantKnown {
		if err := d.f.writeWant(w); err == nil {
			d.wantRec, d.wantKnown = w, true
		} else if elsewhere {
			return err
		}
	}
	if d.sv != nil {
		d.sv.wantUp, d.sv.gen, d.sv.kill = w.Up, w.Gen, w.Kill // asked here: not an intent from elsewhere
	}
	if elsewhere {
		// The supervisor carries it out; the exit it makes is one this
		// controller asked for (genSeen stays the generation it saw).
		return nil
	}
	d.genSeen = w.Gen
	if d.m.state == Stopped && (kind == inStart || kind == inRestart) {
		// A process started elsewhere is adopted, not started twice.
		if f := d.find(); f.proc != nil || len(f.leftovers) > 0 {
			d.adopt(now, f)
		} else if f.busy {
			d.adopt(now, f) // looks again shortly
			return ErrBusy
		}
	}
	if d.m.state == Stopped && (kind == inStop || kind == inForceStop) {
		d.pendingStop = 0
		if !d.busyRetry.IsZero() {
			d.pendingStop = kind // the process being spawned is stopped once it shows
		}
	}
	if kind == inStart || kind == inRestart {
		d.startData = data
	}
	// Only this request's own spawn may release the mutex (forkExec), not
	// one that settle makes for it or for another daemon.
	d.spawnOpen = d.own.openSpawn == d
	d.own.openSpawn = nil
	err := d.apply(input{kind: kind, reason: why}, now)
	d.spawnOpen = false
	if err != nil && d.sv != nil && (kind == inStart || kind == inRestart) && d.m.state == Stopped {
		d.startDone(err, now) // a supervisor's policy, before its settle would try again
	}
	d.own.settle(d, now)
	d.own.deliver()
	return err
}

// drive acts on the work a round found for the daemon: changed files first
// (another controller's doing explains an exit), then an exit, readiness,
// and the deadlines.
func (d *Daemon) drive(now time.Time, m mark) {
	if m&markFiles != 0 {
		d.refresh(now)
	}
	if m&markExit != 0 || !d.exitRetry.IsZero() && !now.Before(d.exitRetry) {
		d.checkExit(now)
	}
	if !d.busyRetry.IsZero() && !now.Before(d.busyRetry) && d.m.state == Stopped {
		d.busyRetry = time.Time{}
		d.adopt(now, d.find())
	}
	if !d.leaseLookAt.IsZero() && !now.Before(d.leaseLookAt) {
		d.lookAtLease(now)
	}
	if !d.recordsDue.IsZero() && !now.Before(d.recordsDue) {
		d.recordsOverdue()
	}
	if m&(markNotify|markReady) != 0 && d.notify != nil {
		d.readReadiness(now)
	}
	if m&markDue != 0 && !d.logCheckAt.IsZero() && !now.Before(d.logCheckAt) {
		d.checkLog(now)
	}
	if due := d.m.deadline(); !due.IsZero() && !now.Before(due) {
		d.apply(input{kind: inTick}, now)
	}
	if d.owesGaveUp && d.m.state == Stopped {
		d.owesGaveUp = false
		if d.lease < 0 && d.rec.GaveUp {
			d.emit(now, Stopped, Stopped, ReasonGaveUp, d.rec.LastExit, nil)
		}
	}
}

// refresh reads the files that another controller (or this one) changed.
func (d *Daemon) refresh(now time.Time) {
	k := d.dirty
	d.dirty = 0
	if k&fileWant != 0 {
		d.readWant()
	}
	if k&fileStatus != 0 && d.lease < 0 {
		before := d.rec
		d.readRecord()
		r := d.rec
		if !r.GaveUp {
			d.owesGaveUp = false
		}
		if r.Since.After(before.Since) {
			if d.m.state == Stopped && r.LastReason == ReasonStartFailed && r.LastError != "" {
				// Its supervisor could not start it: no process, so no
				// transition to see here. Said as a note, as the
				// supervisor's.
				d.emit(now, Stopped, Stopped, ReasonStartFailed, nil, supervisorError{r.LastError, r.Supervisor})
			}
			if r.GaveUp && (!before.GaveUp || r.LastReason != ReasonRequested && r.LastReason != ReasonRequestedElsewhere) {
				// Its supervisor gave up on it (after the failure just
				// said, if so), after a crash this controller may not have
				// seen (a process that lived a millisecond, gone before a
				// look here): said as a note, as the supervisor's, so that
				// a controller whose start it was (a CLI's start --wait)
				// learns it now rather than at its timeout; once it is
				// stopped here too (its exit may come later in this round,
				// or in another: drive says it then). A record still saying
				// gave-up whose news is a stop asked for is stale: another
				// controller ran it meanwhile.
				d.owesGaveUp = true
			}
		}
	}
	if k&fileSup != 0 && d.lease < 0 {
		d.leaseLooks = 0
		d.lookAtLease(now)
	}
	if k&(filePID|fileID|fileLock|fileExit) != 0 {
		d.reconsider(now, k)
	}
	if k&fileReady != 0 && d.notify != nil {
		d.readReadiness(now)
	}
	if k&fileDisabled != 0 {
		d.readDisabled()
	}
	if k&fileLog != 0 {
		d.checkLog(now)
	}
	if k&fileCgroup != 0 && d.mainExited && (d.m.state == Zombie || d.m.state == Stopping) {
		d.checkGone(now)
	}
	if d.sv != nil {
		d.changed(k, now)
	}
}

// lookAtLease acts on a change of <name>.sup (a lease released, or its
// holder dead): a standby takes the lease; a controller that only looks
// stops naming the supervisor that held it. Asked of the lease, not of the
// pid: a SIGKILLed supervisor's fds close before it is reaped, so its pid
// can outlive the event. While the lease stays held it looks again at
// leaseRetryDelays, then waits for the next change: the close that wakes it
// comes a moment before the dying holder's flock goes (the kernel sends the
// event first), and another controller's look can hold a free lease for an
// instant. A look is a read-only open, whose close wakes nobody (takeLease).
func (d *Daemon) lookAtLease(now time.Time) {
	d.leaseLookAt = time.Time{}
	settled := true
	switch {
	case d.sv != nil && !d.sv.noSupervise:
		d.tryLease(now)
		settled = d.lease >= 0
	case d.rec.Supervisor != 0:
		if d.supervisorGone(d.rec.Supervisor) {
			d.rec.Supervisor = 0
		} else {
			settled = false
		}
	}
	if !settled && !d.own.closed && d.leaseLooks < len(leaseRetryDelays) {
		d.leaseLookAt = now.Add(leaseRetryDelays[d.leaseLooks])
		d.leaseLooks++
	}
}

// leaseRetryDelays are when lookAtLease looks again after a change of the
// lease, while the lease stays held.
var leaseRetryDelays = [...]time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 80 * time.Millisecond}

// readWant reads <name>.want into wantRec.
func (d *Daemon) readWant() {
	w, err := d.f.readWant()
	if err == nil {
		d.wantRec = w
		_, serr := os.Lstat(d.f.wantPath())
		d.wantKnown = serr == nil
	}
}

// reconsider looks again at what the pid dir says, after its records or
// its lock changed.
func (d *Daemon) reconsider(now time.Time, k fileKind) {
	switch {
	case d.proc != nil && !d.mainExited:
		// Ours lives and holds the lock: only a readiness recorded by
		// another controller matters.
		if d.m.state == Starting && d.m.needReady && k&fileID != 0 {
			if id, err := readIdentityFile(d.f.idPath()); err == nil && id.PID == d.proc.pid && !id.Ready.IsZero() {
				d.apply(input{kind: inReady}, now)
			}
		}
	case d.mainExited && (d.m.state == Zombie || d.m.state == Stopping):
		d.checkGone(now)
	case d.m.state == Stopped:
		d.adopt(now, d.find())
	}
}

// apply feeds one input to the machine and carries out what it returns.
// It returns the request's refusal or the error of an action.
func (d *Daemon) apply(in input, now time.Time) error {
	from := d.m.state
	m, r := step(d.m, in, now)
	if r.err != nil {
		return r.err
	}
	d.m = m
	if in.kind == inAdopt && !in.at.IsZero() && r.event {
		d.m.since = in.at // running since it started, not since we looked
	}
	var err error
	if r.acts&actSignalStop != 0 {
		err = d.sendSignal(d.spec.StopSignal)
		if err == nil {
			err = d.sendSignal(syscall.SIGCONT)
		}
	}
	if r.acts&actKill != 0 {
		err = d.sendSignal(syscall.SIGKILL)
	}
	if errors.Is(err, ErrNotRunning) {
		err = nil // it exited meanwhile: the next Poll reports that
	}
	if r.event {
		to := d.m.state
		if r.note != ReasonNone {
			to = from
		}
		d.emit(now, from, to, r.reason, r.exit, errors.Join(err, in.err))
		if to == Stopped && from != Stopped && d.lease < 0 && (d.lone || d.startedHere || d.stoppedHere) {
			d.exitDirty = true // recorded at the round's end, where no supervisor does
		}
	}
	if from == Starting && d.m.state == Running && in.kind != inAdopt {
		d.recordReady(now)
	}
	if d.m.state == Stopped && from != Stopped {
		d.proc.close()
		d.proc, d.mainExited = nil, false
		d.unwatchLog()
	}
	if r.acts&actCheckGone != 0 {
		d.checkGone(now)
	}
	if r.acts&actRemoveFiles != 0 {
		d.filesPending = true // at the end of the round: a restart may take the lock over
	}
	if r.acts&actSpawn != 0 {
		serr := d.spawnNow(now)
		if serr != nil {
			d.apply(input{kind: inSpawnFailed, err: serr}, now)
			return serr
		}
		d.apply(input{kind: inSpawned}, now)
		d.watchLog(now)
	}
	return err
}

// finishFiles removes the records of a daemon found gone this round,
// unless a restart took its lock over.
func (d *Daemon) finishFiles() {
	if d.filesPending && d.m.state == Stopped {
		d.doneWithFiles()
	}
	d.filesPending = false
}

// readRecord reads the shared record (<name>.status). The supervisor it
// names is believed only while a supervisor holds the lease: one that was
// SIGKILLed left its pid behind. A controller that cannot probe the lease
// (a read-only look) asks whether that pid still runs.
func (d *Daemon) readRecord() {
	d.rec, _ = d.f.readStatus()
	if pid := d.rec.Supervisor; pid != 0 && d.supervisorGone(pid) {
		d.rec.Supervisor = 0
	}
}

// supervisorGone reports whether the supervisor pid named in the shared
// record no longer holds the lease (no supervisor does).
func (d *Daemon) supervisorGone(pid int) bool {
	return !(d.f.leaseHeld() || !d.writable() && pidExists(pid))
}

// recordExit writes the last exit this controller saw into the shared
// record (<name>.status), so that any controller's status shows it, when
// no supervisor keeps that record (nobody holds the lease) and this
// controller started the daemon, or drives it (a lone Daemon): never a
// controller that only looks.
func (d *Daemon) recordExit() {
	d.exitDirty = false
	if !d.writable() || d.f.leaseHeld() {
		return
	}
	rec, err := d.f.readStatus()
	if err != nil {
		return
	}
	rec.LastExit, rec.LastReason, rec.Since, rec.Supervisor = d.lastExit, d.m.reason, d.m.since, 0
	d.rec = rec
	d.f.writeStatus(rec)
}

// doneWithFiles removes the records of a gone daemon, under the lock
// taken when it was found gone, and lets the lock go.
func (d *Daemon) doneWithFiles() {
	d.containGone()
	if d.heldLock < 0 {
		return
	}
	d.f.removeRecords()
	releaseLock(d.heldLock)
	d.heldLock = -1
}

// emit records one event: a transition, or a note (from == to).
func (d *Daemon) emit(now time.Time, from, to State, r Reason, exit *ExitStatus, err error) {
	d.seq++
	pid := 0
	if d.proc != nil {
		pid = d.proc.pid
	}
	ev := Event{Seq: d.seq, Time: now, Daemon: d.spec.Name, From: from, To: to, Reason: r, PID: pid, Exit: exit, Err: err}
	if to == Starting {
		d.owesGaveUp = false // a give-up owed is of a process before this one
	}
	if d.lone {
		d.queue = append(d.queue, ev)
	}
	d.fresh = append(d.fresh, ev)
}

// nextDue is the daemon's next deadline: its machine's, or its
// supervisor's restart.
func (d *Daemon) nextDue() time.Time {
	t := d.m.deadline()
	for _, r := range []time.Time{d.exitRetry, d.busyRetry, d.leaseLookAt, d.recordsDue} {
		if !r.IsZero() && (t.IsZero() || r.Before(t)) {
			t = r
		}
	}
	if l := d.logCheckAt; !l.IsZero() && (t.IsZero() || l.Before(t)) {
		t = l
	}
	if d.sv != nil {
		if s := d.sv.due(d); !s.IsZero() && (t.IsZero() || s.Before(t)) {
			t = s
		}
	}
	return t
}

// watchProc puts the main process's pidfd in the owner's epoll set.
func (d *Daemon) watchProc() {
	if d.own.hub != nil && d.proc != nil && d.proc.pidfd >= 0 {
		d.own.hub.add(d.proc.pidfd, evPidfd, d.slot)
	}
	d.own.watchExit(d)
}

func (d *Daemon) unwatchProc() {
	if d.own.hub != nil && d.proc != nil {
		d.own.hub.del(d.proc.pidfd)
	}
	d.own.unwatchExit(d)
}

// commandString is the command for messages.
func (d *Daemon) commandString() string {
	if d.spec.Func != "" {
		return "func " + d.spec.Func
	}
	return strings.Join(d.spec.Command, " ")
}
