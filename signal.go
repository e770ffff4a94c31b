// signal.go is how a daemon is signalled: its process group, its main
// process, its cgroup, or an exited one's leftovers, each process once.

package launcher

import (
	"errors"
	"syscall"
)

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
