// files_lock.go is the pid dir's two flocks: the daemon's lock (held by
// the daemon for life: the proof of identity, and no second copy starts)
// and the supervision lease (held by the one Manager that supervises it).
// Part of files.go's job: every path and every operation on them is here.

package launcher

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openLock opens (creating it if needed) the stable lock file for a spawn,
// read-write so that the spawner can write who it is into it. The fd is
// close-on-exec; the spawn passes it on explicitly.
func openLock(path string) (int, error) {
	return openFile(path, unix.O_RDWR|unix.O_CREAT|unix.O_NONBLOCK, 0o644, unix.S_IFREG)
}

// tryLock takes an exclusive flock without waiting. It reports false when
// somebody else (a daemon that inherited the lock fd, or another
// controller) holds it.
func tryLock(fd int) (bool, error) {
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return false, err
		}
	}
}

// releaseLock drops the lock and closes fd. The explicit unlock matters:
// a child forked meanwhile by another goroutine (os/exec, another spawn)
// holds a reference to the same open file description until it execs, and
// a plain close would leave the lock held through that reference.
func releaseLock(fd int) {
	unix.Flock(fd, unix.LOCK_UN)
	unix.Close(fd)
}

// lockState is what a look at the lock found.
type lockState uint8

const (
	lockMissing lockState = iota // no lock file: nothing ever held it
	lockFree                     // nobody holds it
	lockHeld                     // somebody holds it: the daemon, its leftovers, or a spawner
)

// probeLock looks whether the lock is held, without creating anything and
// read-only (so that the close is no IN_CLOSE_WRITE for the watchers). When
// keep is set and the lock is free, it stays taken and its fd is returned
// (read-write, for a spawn); otherwise fd is -1.
func (f *files) probeLock(keep bool) (lockState, int, error) {
	flags := unix.O_RDONLY | unix.O_NONBLOCK
	if keep {
		flags = unix.O_RDWR | unix.O_NONBLOCK
	}
	fd, err := openFile(f.lockPath(), flags, 0, unix.S_IFREG)
	if errors.Is(err, os.ErrNotExist) {
		return lockMissing, -1, nil
	}
	if err != nil {
		return lockHeld, -1, err
	}
	got, err := tryLock(fd)
	switch {
	case err != nil:
		unix.Close(fd)
		return lockHeld, -1, err
	case !got:
		unix.Close(fd)
		return lockHeld, -1, nil
	case keep:
		return lockFree, fd, nil
	}
	releaseLock(fd)
	return lockFree, -1, nil
}

// lockInode returns the device and inode of the lock file (what a process
// holding it shows at /proc/<pid>/fd/<n>).
func (f *files) lockInode() (dev, ino uint64, err error) {
	var st unix.Stat_t
	if err := unix.Lstat(f.lockPath(), &st); err != nil {
		return 0, 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, 0, &os.PathError{Op: "stat", Path: f.lockPath(), Err: errors.New("not a regular file")}
	}
	if err := checkOwner(&st, f.lockPath()); err != nil {
		return 0, 0, err
	}
	return uint64(st.Dev), uint64(st.Ino), nil // int32 and uint64 on darwin
}

// writeSpawner writes who is spawning into the lock (fd, held): one
// pwrite of a fixed-size line, so a recovering controller can tell the
// spawner from the daemon and learn the spawn's token.
func writeSpawner(fd int, s spawner) {
	unix.Pwrite(fd, s.format(), 0)
}

// readSpawner reads the lock's spawner line.
func (f *files) readSpawner() (spawner, error) {
	b, _, err := readSmallFile(f.lockPath(), 4096)
	if err != nil {
		return spawner{}, err
	}
	return parseSpawner(b)
}

// takeLease tries to become the daemon's supervisor: an exclusive flock on
// <name>.sup, held (through the returned fd) until releaseLease. got is
// false when another Manager holds it.
//
// The lease is held through a read-write open, so that its close on release
// (or on the holder's death) is an IN_CLOSE_WRITE that wakes every standby.
// A probe that finds it held must not wake anybody, or standbys and
// lookers would wake each other for ever: it looks through a read-only open
// (whose close is IN_CLOSE_NOWRITE, which nobody watches), and opens
// read-write only once it got the lease, taking it over from the read-only
// open. Should another take it in that instant, this one's close wakes the
// others, once.
func (f *files) takeLease() (fd int, got bool, err error) {
	probe, err := openFile(f.supPath(), unix.O_RDONLY|unix.O_CREAT|unix.O_NONBLOCK, 0o644, unix.S_IFREG)
	if err != nil {
		return -1, false, err
	}
	got, err = tryLock(probe)
	if err != nil || !got {
		unix.Close(probe)
		return -1, false, err
	}
	fd, err = openFile(f.supPath(), unix.O_RDWR|unix.O_NONBLOCK, 0, unix.S_IFREG)
	releaseLock(probe)
	if err != nil {
		return -1, false, err
	}
	if got, err = tryLock(fd); err != nil || !got {
		unix.Close(fd)
		return -1, false, err
	}
	unix.Pwrite(fd, []byte(fmt.Sprintf("%-12d\n", os.Getpid())), 0)
	return fd, true, nil
}

// releaseLease gives up the supervision of the daemon.
func releaseLease(fd int) { releaseLock(fd) }

// leaseHeld reports whether a supervisor holds the lease, through a
// read-only open (no event for the watchers; see takeLease). When the lease
// is free it is taken for an instant: a standby whose own look fell in that
// instant looks again shortly (leaseRetryDelays).
func (f *files) leaseHeld() bool {
	fd, err := openFile(f.supPath(), unix.O_RDONLY|unix.O_NONBLOCK, 0, unix.S_IFREG)
	if err != nil {
		return false
	}
	got, err := tryLock(fd)
	if got {
		releaseLock(fd)
		return false
	}
	unix.Close(fd)
	return err == nil
}
