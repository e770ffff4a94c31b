package launcher

import (
	"errors"
	"os"
	"time"
)

// findRunning returns a handle on the live process that the daemon's files
// describe, or nil when they describe none (no pid file, a dead process, or
// a live process that fails the identity check: somebody else's, never to
// be signalled). Junk in the files is an error naming the file.
func (d *Daemon) findRunning() (*process, error) {
	pid, mtime, err := readPIDFile(d.files.pid)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		if writtenBeforeBoot(d.files.pid) {
			return nil, nil // left by a crash: whatever it says, nothing runs
		}
		return nil, err
	}
	id, err := readIdentityFile(d.files.id)
	hasID := err == nil
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		if writtenBeforeBoot(d.files.id) {
			return nil, nil
		}
		return nil, err
	}
	if hasID && id.PID != pid {
		return nil, nil // the files disagree: neither can be trusted
	}
	p, err := openProcess(pid, func(st procStat) bool {
		if hasID {
			return id.BootID == bootID() && id.PIDNS == pidNS() && id.StartTicks == st.startTicks
		}
		// Written by another tool: trust the pid only if the process
		// started no later than the file was written.
		return !startWallTime(st.startTicks).After(mtime)
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return p, err
}

// adopt runs in New: it takes over a live process of this daemon, or a
// Zombie's leftovers that still hold the lock, and removes stale files
// under the lock.
func (d *Daemon) adopt(now time.Time) error {
	fd, err := openLock(d.files.lock)
	if err != nil {
		return err
	}
	defer releaseLock(fd) // unlocks only what we locked: the daemon holds its own
	got, err := tryLock(fd)
	if err != nil {
		return err
	}
	p, err := d.findRunning()
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if p != nil {
		d.proc = p
		d.apply(input{kind: inAdoptRunning}, now)
		d.since = startWallTime(p.start) // running since it started, not since we looked
		return nil
	}
	if got {
		// Nothing of the daemon holds the lock and no live process
		// matches: whatever the files say is stale.
		return removePIDFiles(d.files.pid, d.files.id)
	}
	// The lock is held but the main process is gone: its leftovers hold
	// the lock (Zombie), or another controller is starting it right now
	// (no pid file yet: Stopped, and Start says ErrBusy).
	pid, _, err := readPIDFile(d.files.pid)
	if err != nil {
		return nil
	}
	id, err := readIdentityFile(d.files.id)
	if err != nil || id.PID != pid || id.BootID != bootID() {
		return nil
	}
	d.proc = &process{pid: pid, pidfd: -1, group: true, start: id.StartTicks, done: true}
	d.mainExited = true
	d.exitReason = ReasonExited
	d.apply(input{kind: inAdoptZombie}, now)
	return nil
}

// writtenBeforeBoot reports whether the file at path was last written
// before this boot: no process it names can be alive.
func writtenBeforeBoot(path string) bool {
	fi, err := os.Lstat(path)
	boot := bootTime()
	return err == nil && !boot.IsZero() && fi.ModTime().Before(boot)
}
