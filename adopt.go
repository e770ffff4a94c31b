// adopt.go reads what the pid dir says about a daemon and proves which
// process, if any, is the daemon (the lock held at fd 3, or the identity
// record and its own session, or its cgroup); it adopts that process, finds
// a lock's holder when the records are missing (recovery), and looks again
// at a lock held by a spawn under way.

package launcher

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// found is what the pid dir says about the daemon.
type found struct {
	proc      *process // the main process, proved ours; it may have exited unreaped
	stat      procStat
	id        identity // its record (zero when recovered without one)
	hasID     bool
	leftovers []int // lock holders that are not the main process
	busy      bool  // the lock is held by nobody we can find: a spawn under way
	lock      lockState
	// recordsLeft: recovered while its spawner lives, which writes its
	// records; id is what to write if it has not by spawnerGrace.
	recordsLeft bool
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
			d.note("%s names a process, but no daemon ever held %s: stale, never signalled", d.f.pidPath(), d.f.lockPath())
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
			d.note("%s names pid %d, %s pid %d", d.f.pidPath(), pid, d.f.idPath(), id.PID)
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
		p, candStat, ok := prove(cand, idp, dev, ino)
		if ok {
			f.proc, f.stat = p, candStat
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
		switch {
		case candStat.state == 'Z' && lock == lockFree:
			d.note("pid %d named by its files has exited; its parent has not reaped it yet (stale files, replaced by the next start)", cand)
		case lock == lockFree && !pidExists(cand):
			d.note("pid %d named by its files is gone (stale files, replaced by the next start)", cand)
		case lock == lockFree || !f.hasID || f.id.PID != cand:
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
		// The spawner writes the records right after its exec. While it
		// lives and its child is young, this is the moment between: its
		// records are on their way, and a write here replaced them with
		// what this controller can know (no time of readiness: a controller
		// with a longer StartSecs then took the daemon for starting). The
		// records are written here only for a spawner that died before
		// writing them, or that has not for spawnerGrace.
		if spawnerAlive(sp.PID) && time.Since(f.id.Started) < spawnerGrace {
			f.recordsLeft = true // adopt looks again at the end of the grace
		} else if d.writable() {
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
	if st.kernelThread() || st.state == 'Z' {
		// A zombie is a daemon that exited and that its parent has not
		// reaped: it holds no lock, and its identity record would prove a
		// dead process (a new supervisor then took its exit for a crash
		// it saw, and left down a daemon wanted up).
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
		d.recordsDue, d.recovered = time.Time{}, nil
		if f.recordsLeft {
			id := f.id
			d.recordsDue, d.recovered = id.Started.Add(spawnerGrace), &id
		}
		d.genSeen = d.wantRec.Gen
		d.startedHere, d.stoppedHere = false, false
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

// spawnerGrace is how long after its child's start a live spawner is left
// to write the child's records before another controller that found the
// child by its lock writes them.
const spawnerGrace = 2 * time.Second

// spawnerAlive says whether the process that the lock's spawner line names
// lives (a zombie does not: it died, its parent has not reaped it).
func spawnerAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	st, err := readProcStat(pid)
	return err == nil && st.state != 'Z'
}

// recordsOverdue writes the records of a daemon recovered while its
// spawner lived, if that spawner has not written them by spawnerGrace (it
// died, or its write failed): they name the daemon's process, or nobody
// finds it but by a scan of /proc.
func (d *Daemon) recordsOverdue() {
	rec := d.recovered
	d.recordsDue, d.recovered = time.Time{}, nil
	if rec == nil {
		return
	}
	id := *rec
	if d.proc == nil || d.mainExited || d.proc.pid != id.PID || d.proc.start != id.StartTicks || !d.writable() {
		return
	}
	if cur, err := readIdentityFile(d.f.idPath()); err == nil && cur.PID == id.PID && cur.StartTicks == id.StartTicks {
		return // the spawner wrote them
	}
	dev, ino, err := d.f.lockInode()
	if err != nil || !holdsLock(id.PID, lockFD, dev, ino) {
		return
	}
	if err := d.f.writeRecords(id); err != nil {
		d.note("recovered pid %d, but cannot write its records: %v", id.PID, err)
	}
}
