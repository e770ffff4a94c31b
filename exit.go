// exit.go sees a daemon's main process end: reaps it (its own child) or
// learns its status another way (an adopted one), and tells when nothing of
// the daemon is left (its lock free, its cgroup empty), or a new instance
// holds the lock.

package launcher

import (
	"strconv"
	"time"
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
	if d.proc.own || d.lease >= 0 || d.stoppedHere {
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
	// holds the lock is its leftovers: nothing to look for (no scan) --
	// unless the lock's spawner line has another token than the records:
	// a new instance was spawned since, whose spawner has not written its
	// records yet, or died before it could (a watcher stayed a Zombie of
	// the old one for ever, the pid file naming a dead pid).
	if id, err := readIdentityFile(d.f.idPath()); err == nil && d.proc != nil && id.PID == d.proc.pid && id.StartTicks == d.proc.start {
		if sp, err := d.f.readSpawner(); err != nil || sp.Token == "" || sp.Token == id.Token {
			return
		}
	}
	if f := d.find(); f.proc != nil && (d.proc == nil || f.proc.pid != d.proc.pid) {
		d.adopt(now, f)
	} else if f.proc != nil {
		f.proc.close()
	}
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
