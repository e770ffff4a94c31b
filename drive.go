// drive.go carries out what the state machine decides: requests, the
// observations of a Poll (exits, readiness, deadlines, changed files), what
// the pid dir says (find, adopt), spawning and signalling. Every method here
// runs with the owner's mutex held.

package launcher

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// request applies a caller's request. When another controller supervises
// the daemon, a start, stop or restart is only written as an intent to
// <name>.want; that supervisor carries it out and the state follows what
// it does.
func (d *Daemon) request(kind inputKind, data []byte, why Reason, now time.Time) error {
	if d.own.closed && d.lone {
		return errors.New("daemon is closed")
	}
	if kind == inStart || kind == inRestart {
		if off, err := d.f.isDisabled(); off {
			return errors.Join(ErrDisabled, err)
		}
	}
	if (kind == inStart || kind == inRestart) && !d.dirsMade {
		// The wish is written first (a supervisor may carry it out): the
		// dirs must be there for it.
		if err := d.f.ensureDirs(); err != nil {
			return err
		}
		if d.own.hub != nil {
			d.own.hub.watchDir(d.f.dir, d.f.name, d)
		}
		d.dirsMade = true
	}
	w := d.wantRec
	w.Up = kind == inStart || kind == inRestart
	if kind == inRestart {
		w.Gen++
	}
	// Where another controller supervises the daemon, a request is an
	// intent for it; a kill is done at once, the daemon wanted down first.
	elsewhere := d.lease < 0 && kind != inForceStop && d.f.leaseHeld()
	if w != d.wantRec || !d.wantKnown {
		if err := d.f.writeWant(w); err == nil {
			d.wantRec, d.wantKnown = w, true
		} else if elsewhere {
			return err
		}
	}
	if d.sv != nil {
		d.sv.wantUp, d.sv.gen = w.Up, w.Gen // asked here: not an intent from elsewhere
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
	err := d.apply(input{kind: kind, reason: why}, now)
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
	if m&(markNotify|markReady) != 0 && d.notify != nil {
		d.readReadiness(now)
	}
	if m&markDue != 0 && !d.logCheckAt.IsZero() && !now.Before(d.logCheckAt) {
		d.checkLog(now)
	}
	if due := d.m.deadline(); !due.IsZero() && !now.Before(due) {
		d.apply(input{kind: inTick}, now)
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
		d.rec, _ = d.f.readStatus()
	}
	if k&(filePID|fileID|fileLock|fileExit) != 0 {
		d.reconsider(now, k)
	}
	if k&fileReady != 0 && d.notify != nil {
		d.readReadiness(now)
	}
	if k&fileLog != 0 {
		d.checkLog(now)
	}
	if k&fileCgroup != 0 && d.mainExited && (d.m.state == Zombie || d.m.state == Stopping) {
		d.checkGone(now)
	}
	if d.own.sup != nil {
		d.own.sup.changed(d, k, now)
	}
}

// readWant reads <name>.want into wantRec.
func (d *Daemon) readWant() {
	w, err := d.f.readWant()
	if err == nil {
		d.wantRec = w
		_, serr := os.Lstat(d.f.want)
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
			if id, err := readIdentityFile(d.f.id); err == nil && id.PID == d.proc.pid && !id.Ready.IsZero() {
				d.apply(input{kind: inReady}, now)
			}
		}
	case d.mainExited && (d.m.state == Zombie || d.m.state == Stopping):
		d.checkGone(now)
	case d.m.state == Stopped:
		d.adopt(now, d.find())
	}
}

// found is what the pid dir says about the daemon.
type found struct {
	proc      *process // the main process, proved ours; it may have exited unreaped
	stat      procStat
	id        identity // its record (zero when recovered without one)
	hasID     bool
	leftovers []int // lock holders that are not the main process
	busy      bool  // the lock is held by nobody we can find: a spawn under way
	lock      lockState
}

// find reads the records and the lock and proves which process, if any, is
// the daemon: one holding the lock at fd 3, or one matching the identity
// record that leads its own session. Records that name anything else are
// put in d.problem. With the lock held and no record proving its holder (a
// controller died between spawn and record), the holder is looked for
// among all processes, and its records are written again.
func (d *Daemon) find() found {
	var f found
	d.problem = ""
	lock, _, lerr := d.f.probeLock(false)
	f.lock = lock
	if lerr != nil {
		d.note("lock: %v", lerr)
		return f
	}
	pid, pidErr, id, idErr := d.f.readRecords()
	if lock == lockMissing {
		// Nothing ever held it: whatever the records say is stale.
		switch {
		case pidErr == nil || idErr == nil:
			d.note("%s names a process, but no daemon ever held %s: stale, never signalled", d.f.pid, d.f.lock)
		case !errors.Is(pidErr, os.ErrNotExist):
			d.note("%v", pidErr)
		case !errors.Is(idErr, os.ErrNotExist):
			d.note("%v", idErr)
		}
		return f
	}
	dev, ino, err := d.f.lockInode()
	if err != nil {
		d.note("lock: %v", err)
		return f
	}
	cand := 0
	switch {
	case idErr == nil:
		cand, f.id, f.hasID = id.PID, id, true
		if pidErr == nil && pid != id.PID {
			d.note("%s names pid %d, %s pid %d", d.f.pid, pid, d.f.id, id.PID)
		}
	case pidErr == nil:
		cand = pid
	}
	if pidErr != nil && !errors.Is(pidErr, os.ErrNotExist) {
		d.note("%v", pidErr)
	}
	if idErr != nil && !errors.Is(idErr, os.ErrNotExist) {
		d.note("%v", idErr)
	}
	if cand > 0 {
		var idp *identity
		if f.hasID {
			idp = &f.id
		}
		if p, st, ok := prove(cand, idp, dev, ino); ok {
			f.proc, f.stat = p, st
			return f
		}
		// In its cgroup and leading its session: the daemon too (one that
		// closed its lock), with KillCgroup.
		if d.containHolds(cand) {
			if p, st, err := openProcess(cand); err == nil && st.session == cand && d.containHolds(cand) {
				f.proc, f.stat = p, st
				return f
			} else if err == nil {
				p.close()
			}
		}
		if lock == lockFree || !f.hasID || f.id.PID != cand {
			d.note("pid %d named by its files is not the daemon's: never signalled", cand)
		}
	}
	if lock != lockHeld {
		return f
	}
	// Held, and no record proves its holder: recovery.
	sp, _ := d.f.readSpawner()
	holders := lockHolders(lockFD, dev, ino)
	if pids := d.containPIDs(); pids != nil { // its cgroup says where to look
		holders = slices.DeleteFunc(pids, func(pid int) bool { return !holdsLock(pid, lockFD, dev, ino) })
	}
	for _, h := range holders {
		st, err := readProcStat(h)
		switch {
		case err != nil || st.kernelThread() || h == sp.PID:
			continue // gone, or the spawner itself, mid-spawn
		case st.session != h:
			f.leftovers = append(f.leftovers, h) // a child: the main one leads the session
			continue
		}
		p, pst, ok := prove(h, nil, dev, ino)
		if !ok {
			continue
		}
		f.proc, f.stat = p, pst
		f.id = identity{PID: h, StartTicks: pst.startTicks, BootID: bootID(), PIDNS: pidNS(), LockFD: lockFD,
			Started: startWallTime(pst.startTicks), Token: sp.Token, Command: d.spec.Command, Func: d.spec.Func}
		f.hasID = true
		if d.writable() {
			if err := d.f.writeRecords(f.id); err != nil {
				d.note("recovered pid %d, but cannot write its records: %v", h, err)
			}
		}
		d.problem = ""
		return f
	}
	if len(f.leftovers) == 0 {
		f.busy = true
	}
	return f
}

// note adds to d.problem.
func (d *Daemon) note(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if d.problem != "" {
		d.problem += "; "
	}
	d.problem += s
}

// prove opens a handle on pid and checks that it is the daemon: it holds
// the lock (dev, ino) at fd 3, or it matches id (start time, boot, pid
// namespace) and leads its own session. Kernel threads, pid <= 1 and any
// other process fail.
func prove(pid int, id *identity, dev, ino uint64) (*process, procStat, bool) {
	p, st, err := openProcess(pid)
	if err != nil {
		return nil, st, false
	}
	if st.kernelThread() {
		p.close()
		return nil, st, false
	}
	if holdsLock(pid, lockFD, dev, ino) {
		return p, st, true
	}
	if id != nil && id.PID == pid && id.StartTicks == st.startTicks && id.BootID == bootID() &&
		id.PIDNS == pidNS() && st.session == pid {
		return p, st, true
	}
	p.close()
	return nil, st, false
}

// adopt takes what find found into the machine, from Stopped (or from a
// Zombie whose lock a new instance holds now).
func (d *Daemon) adopt(now time.Time, f found) {
	switch {
	case f.proc != nil:
		// Confirmed already (by whoever saw it ready, recorded in its
		// identity record), or old enough: running. Else starting, and
		// confirmed on time here.
		started := startWallTime(f.stat.startTicks)
		to := Running
		switch {
		case !f.id.Ready.IsZero():
		case d.spec.Ready == ReadyFD && d.notify.readyWritten():
		case d.m.needReady, now.Sub(started) < d.spec.StartSecs:
			to = Starting
		}
		if d.proc != nil {
			d.unwatchProc()
			d.proc.close()
		}
		d.proc, d.mainExited = f.proc, false
		d.genSeen = d.wantRec.Gen
		d.startedHere = false
		d.outdated = f.hasID && (!slices.Equal(f.id.Command, d.spec.Command) || f.id.Func != d.spec.Func)
		d.apply(input{kind: inAdopt, to: to, at: started}, now)
		d.watchProc()
		if d.notify != nil {
			d.takeNotify()
			d.watchNotify()
		}
		d.watchLog(now)
		d.containWatch()
		if !f.proc.alive() {
			d.checkExit(now) // it exited unwatched: report it (and reap it if ours)
		}
	case len(f.leftovers) > 0 && d.m.state == Stopped:
		d.proc = &process{pid: f.id.PID, pidfd: -1, group: true, start: f.id.StartTicks, done: true}
		if !f.hasID {
			d.proc.pid, d.proc.group = 0, false
		}
		d.mainExited = true
		d.apply(input{kind: inAdopt, to: Zombie}, now)
	case f.busy && d.m.state == Stopped:
		// Held at no fd 3 we can see: a spawn under way (a child between
		// fork and exec holds the lock at its parent's fd number), whose
		// controller may even be dead. Look again shortly, until the
		// holder shows or the lock is free.
		d.note("the lock is held by a controller starting it right now")
		d.busyWait = min(max(2*d.busyWait, busyWaitMin), busyWaitMax)
		d.busyRetry = now.Add(d.busyWait)
		return
	}
	d.busyWait, d.busyRetry = 0, time.Time{}
	if d.pendingStop != 0 && d.m.state != Stopped {
		// A stop asked for while the lock was busy: carried out now that
		// the process is known.
		kind := d.pendingStop
		d.pendingStop = 0
		d.apply(input{kind: kind}, now)
	}
}

// How often a busy lock is looked at again.
const (
	busyWaitMin = 2 * time.Millisecond
	busyWaitMax = time.Second
)

// checkExit reaps (our child) or notices (adopted) the main process's exit.
//
// The status of a process that is not our child comes a moment after its
// pidfd says it exited: the proc connector's message follows the wake-up,
// and PIDFD_INFO_EXIT is there once its parent has reaped it. So an
// adopted exit without a status yet is looked at again a few times within
// exitWaitMax before it is reported as unknown-exit.
func (d *Daemon) checkExit(now time.Time) {
	if d.proc == nil || d.mainExited {
		return
	}
	exited, st, _ := d.proc.check()
	if !exited {
		return
	}
	// An own child with no status was reaped by somebody else in this
	// program (a Wait4(-1) reaper): its status is looked for like an
	// adopted one's.
	known := st != nil
	if !known {
		st, known = d.adoptedExit()
		if d.exitSeen.IsZero() {
			d.exitSeen = now
			if d.own.hub != nil {
				d.own.hub.del(d.proc.pidfd) // readable for good now; the pidfd stays for the ioctl
			}
		}
		if !known {
			if wait := now.Sub(d.exitSeen); wait < exitWaitMax {
				d.exitRetry = now.Add(min(max(2*wait, 2*time.Millisecond), exitWaitMax-wait))
				return
			}
		}
	}
	d.exitSeen, d.exitRetry = time.Time{}, time.Time{}
	d.mainExited = true
	d.lastExit = st
	d.unwatchProc()
	d.proc.close()
	if d.proc.own || d.lease >= 0 {
		d.logMarker(now, exitMarker(d.proc.pid, st, known))
	}
	// Another controller asked for it (a stop, or a restart) while this one
	// only watched.
	asked := (d.m.state == Running || d.m.state == Starting) && d.wantKnown &&
		(!d.wantRec.Up || d.wantRec.Gen != d.genSeen)
	d.apply(input{kind: inExited, exit: st, known: known, asked: asked}, now)
}

// exitWaitMax is how long the status of an adopted process's exit is
// waited for.
const exitWaitMax = 100 * time.Millisecond

// adoptedExit learns how a process that is not our child ended: from the
// kernel's proc connector (as root), from the kernel once its parent
// reaped it (PIDFD_INFO_EXIT), or from its own record (a Func daemon's,
// written by Main).
func (d *Daemon) adoptedExit() (*ExitStatus, bool) {
	if st := d.own.connExit(d.proc.pid); st != nil {
		return st, true
	}
	if st := d.proc.exitInfo(); st != nil {
		return st, true
	}
	if r, err := d.f.readExit(); err == nil && r.PID == d.proc.pid && r.StartTicks == d.proc.start {
		return &ExitStatus{Code: r.Code}, true
	}
	return nil, false
}

// checkGone looks whether anything of an exited daemon still holds its
// lock. Free: the daemon is gone (the lock stays taken, for the records
// and a spawn in the same round). Held by a new instance (another
// controller started it again): that is adopted. Otherwise its leftovers
// hold it and it stays a Zombie until they let go (the dir watch sees the
// lock's last close).
func (d *Daemon) checkGone(now time.Time) {
	if d.containBusy() {
		return // its cgroup holds a process still: cgroup.events tells when it empties
	}
	keep := d.writable()
	state, fd, err := d.f.probeLock(keep)
	if err != nil {
		return
	}
	if state != lockHeld {
		d.heldLock = fd
		d.apply(input{kind: inGone}, now)
		return
	}
	// Held. While the records still name the process that exited, what
	// holds the lock is its leftovers: nothing to look for (no scan).
	if id, err := readIdentityFile(d.f.id); err == nil && d.proc != nil && id.PID == d.proc.pid && id.StartTicks == d.proc.start {
		return
	}
	if f := d.find(); f.proc != nil && (d.proc == nil || f.proc.pid != d.proc.pid) {
		d.adopt(now, f)
	} else if f.proc != nil {
		f.proc.close()
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
		if to == Stopped && from != Stopped && d.lease < 0 && (d.lone || d.startedHere) {
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
	if d.lone {
		d.queue = append(d.queue, ev)
	}
	d.fresh = append(d.fresh, ev)
}

// nextDue is the daemon's next deadline: its machine's, or its
// supervisor's restart.
func (d *Daemon) nextDue() time.Time {
	t := d.m.deadline()
	for _, r := range []time.Time{d.exitRetry, d.busyRetry} {
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
	p := d.proc
	if p == nil {
		return ErrNotRunning
	}
	d.own.syncExits() // the proc connector must know an adopted pid before it exits
	if handled, err := d.containSignal(sig); handled {
		return err // every process of the cgroup, once
	}
	if d.mainExited {
		return d.signalLeftovers(sig)
	}
	if d.spec.KillMode == KillGroup && p.group && p.alive() {
		if err := signalGroupSafe(p.pid, sig); err == nil {
			return nil
		}
		// Some member is not ours to signal (EPERM): the main one is.
	}
	return p.signal(sig)
}

// signalLeftovers signals what an exited daemon left holding its lock:
// the old group, if its number is still the daemon's, and each process
// that holds the lock (each proved by that).
func (d *Daemon) signalLeftovers(sig syscall.Signal) error {
	var errs []error
	p := d.proc
	if p.group && p.pid > 1 && groupIsOurs(p.pid, p.start) {
		errs = append(errs, signalGroupSafe(p.pid, sig))
	}
	dev, ino, err := d.f.lockInode()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, h := range lockHolders(lockFD, dev, ino) {
		hp, _, err := openProcess(h)
		if err != nil {
			continue
		}
		if holdsLock(h, lockFD, dev, ino) { // the handle is on the holder, not a reused pid
			if err := hp.signal(sig); err != nil && !errors.Is(err, ErrNotRunning) {
				errs = append(errs, err)
			}
		}
		hp.close()
	}
	return errors.Join(errs...)
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

// exitMarker is the log line launcher writes when a daemon's process ends.
func exitMarker(pid int, st *ExitStatus, known bool) string {
	p := "pid " + strconv.Itoa(pid)
	switch {
	case !known:
		return p + " exited, status unknown (not our child)"
	case st == nil:
		return p + " exited"
	case st.Signal != 0:
		return p + " killed by " + st.String()
	default:
		return p + " exited with status " + strconv.Itoa(st.Code)
	}
}

// commandString is the command for messages.
func (d *Daemon) commandString() string {
	if d.spec.Func != "" {
		return "func " + d.spec.Func
	}
	return strings.Join(d.spec.Command, " ")
}

// readReadiness reads what the daemon said on its readiness channel.
func (d *Daemon) readReadiness(now time.Time) {
	if d.proc == nil || d.mainExited {
		return
	}
	n := d.notify
	if n.mode == ReadyFD {
		if d.m.state == Starting && n.readyWritten() {
			d.apply(input{kind: inReady}, now)
		}
		if d.m.state != Starting {
			d.unwatchNotify()
		}
		return
	}
	msg := n.read(d.proc.pid)
	d.watchNotify() // read to the end: arm it again
	if msg.hasStatus {
		d.statusText = msg.status
	}
	if msg.stopping {
		d.apply(input{kind: inQuitting}, now)
	}
	if msg.watchdog {
		d.apply(input{kind: inBeat}, now)
	}
	if msg.ready && d.m.state == Starting {
		d.apply(input{kind: inReady}, now)
	}
}

// recordReady writes the time the daemon was confirmed (it said it was
// ready, or it stayed up StartSecs) into its identity record, so that any
// controller that adopts it later knows, whatever its own StartSecs.
//
// Only the controller that started it or supervises it records: a
// controller that only looks confirms by its own StartSecs, which need not
// be the daemon's.
func (d *Daemon) recordReady(now time.Time) {
	if d.proc == nil || !d.proc.own && d.lease < 0 {
		return
	}
	id, err := readIdentityFile(d.f.id)
	if err != nil || id.PID != d.proc.pid || !id.Ready.IsZero() {
		return
	}
	id.Ready = now
	d.f.writeID(id)
}

// takeNotify binds the sd_notify socket for a daemon adopted before it
// said it was ready, by a lone Daemon, when nobody else will: no
// supervisor holds the lease and the controller that started it is gone.
// Without this the adopter would wait for a READY=1 that nobody receives.
func (d *Daemon) takeNotify() {
	n := d.notify
	if n.mode != ReadyNotify || n.fd >= 0 || !d.lone || d.m.state != Starting || !d.writable() || d.f.leaseHeld() {
		return
	}
	if sp, err := d.f.readSpawner(); err == nil && sp.PID != os.Getpid() && unix.Kill(sp.PID, 0) == nil {
		return // its starter lives and has it bound
	}
	n.bind()
}

// watchNotify puts the readiness channel in the owner's watch: the
// socket's fd (when this controller bound it), or the readiness file.
func (d *Daemon) watchNotify() {
	n, h := d.notify, d.own.hub
	if n == nil || h == nil {
		return
	}
	switch {
	case n.mode == ReadyNotify && n.fd >= 0:
		h.add(n.fd, evNotify, d.slot)
	case n.mode == ReadyFD && n.wd < 0:
		n.wd = h.watchFile(n.readyPath, d, fileReady)
	}
}

func (d *Daemon) unwatchNotify() {
	n, h := d.notify, d.own.hub
	if n == nil || h == nil {
		return
	}
	if n.fd >= 0 {
		h.del(n.fd)
	}
	if n.wd >= 0 {
		h.unwatchFile(n.wd)
		n.wd = -1
	}
}
