package launcher

import (
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// logCheckEvery is how often Poll looks at the size of a log with
// LogMaxBytes set. It is the only periodic work launcher does, and only
// for such daemons.
const logCheckEvery = time.Second

// rotateLog rotates the daemon's log once it has reached LogMaxBytes:
// <name>.log.1 ... .N move up one, the head of the log is copied into a new
// <name>.log.1 and then cut out of the log with fallocate(COLLAPSE_RANGE).
// The daemon's O_APPEND fd stays valid and what it writes meanwhile stays
// in the log: nothing is lost, though the one line that straddles the cut
// (a multiple of the block size) is split between the two files. Where the
// filesystem cannot collapse (tmpfs, older ones), the rest of the log is
// copied too and the log truncated: a line written between that copy and
// the truncation is lost, the one window left.
//
// It holds an exclusive flock on the log meanwhile; a Follower holds a
// shared one while it reads, so it sees the rotation whole. When a
// Follower holds it, the rotation waits for the next check: Poll never
// waits. The copy is bounded by the log's size (LogMaxBytes and what
// came since the last check).
func (d *Daemon) rotateLog(now time.Time) {
	if d.spec.LogMaxBytes <= 0 || d.m.state == Stopped {
		return
	}
	if d.spec.LogMaxBytes <= 0 || now.Before(d.nextLogCheck) {
		return
	}
	d.nextLogCheck = now.Add(logCheckEvery)
	var st unix.Stat_t
	if unix.Stat(d.f.log, &st) != nil || st.Size < d.spec.LogMaxBytes || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return
	}
	fd, err := unix.Open(d.f.log, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return
	}
	defer unix.Flock(fd, unix.LOCK_UN)
	if unix.Fstat(fd, &st) != nil {
		return
	}
	blk := max(int64(st.Blksize), 512)
	cut := st.Size / blk * blk
	if cut >= st.Size {
		cut -= blk // COLLAPSE_RANGE must leave something after the range
	}
	if cut <= 0 {
		return
	}
	keep := d.spec.LogBackups
	if keep > 0 {
		d.shiftBackups(keep)
		if err := copyToNew(fd, d.f.log+".1", 0, cut); err != nil {
			return
		}
	}
	err = unix.Fallocate(fd, unix.FALLOC_FL_COLLAPSE_RANGE, 0, cut)
	if err == nil {
		return
	}
	// No collapse here: copy the rest too, then truncate.
	if keep > 0 {
		if unix.Fstat(fd, &st) != nil || appendRange(fd, d.f.log+".1", cut, st.Size) != nil {
			return
		}
	}
	unix.Ftruncate(fd, 0)
}

// shiftBackups renames <log>.i to <log>.i+1 for i = keep-1 ... 1, dropping
// <log>.keep.
func (d *Daemon) shiftBackups(keep int) {
	os.Remove(d.f.log + "." + strconv.Itoa(keep))
	for i := keep - 1; i >= 1; i-- {
		os.Rename(d.f.log+"."+strconv.Itoa(i), d.f.log+"."+strconv.Itoa(i+1))
	}
}

// copyToNew copies [from, to) of fd into a new file at path (through a
// temp file and a rename, so that a Follower never sees half of it).
func copyToNew(fd int, path string, from, to int64) error {
	tmp := path + ".tmp"
	out, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	err = copyRange(fd, out, from, to)
	unix.Close(out)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// appendRange appends [from, to) of fd to the file at path.
func appendRange(fd int, path string, from, to int64) error {
	out, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(out)
	return copyRange(fd, out, from, to)
}

// copyRange copies [from, to) of in to out's current offset, in the kernel.
func copyRange(in, out int, from, to int64) error {
	for off := from; off < to; {
		n, err := unix.CopyFileRange(in, &off, out, nil, int(to-off), 0)
		if err != nil {
			return err
		}
		if n == 0 {
			return errors.New("log shrank while copying")
		}
	}
	return nil
}
