// rotate_linux.go rotates a daemon's log (LogMaxBytes): when to look at its
// size, and the copy and collapse that never lose a line.

package launcher

import (
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// When a log with LogMaxBytes is looked at. A quiet log costs nothing: an
// inotify watch on it waits for its next write. A growing one is looked at
// on a timer instead (no event per write), as often as its rate asks for
// LogMaxBytes/logSlack to be the most written between two looks; and once
// a look finds it has not grown, it goes back to the watch. It is rotated
// from LogMaxBytes less logEarly percent, since a look may come late: so a
// backup stays within a tenth of LogMaxBytes, either way.
const (
	logSlack     = 40 // a look per fortieth of LogMaxBytes written
	logEarly     = 7  // rotate from LogMaxBytes less 7%
	logLookMin   = time.Millisecond
	logLookFirst = 5 * time.Millisecond // after the write that woke a quiet log
	logLookMax   = 250 * time.Millisecond
)

// watchLog starts looking after the log of a daemon this controller
// rotates (LogMaxBytes, and it started or supervises the daemon); unwatchLog
// stops (the daemon stopped).
func (d *Daemon) watchLog(now time.Time) {
	if d.spec.LogMaxBytes <= 0 || d.own.hub == nil || !d.rotates() {
		return
	}
	var st unix.Stat_t
	d.logSeen, d.logSeenAt = 0, now
	if unix.Stat(d.f.logPath(), &st) == nil {
		d.logSeen = st.Size
	}
	d.checkLog(now) // quiet so far: the watch
}

func (d *Daemon) unwatchLog() {
	if d.logWD >= 0 && d.own.hub != nil {
		d.own.hub.unwatchFile(d.logWD)
	}
	d.logWD, d.logCheckAt = -1, time.Time{}
}

// rotates reports whether this controller rotates the daemon's log: its
// supervisor, or the one that started it, or a lone Daemon (a program
// that drives its own) — never one that only looks.
func (d *Daemon) rotates() bool {
	return d.lease >= 0 || d.lone || d.proc != nil && d.proc.own
}

// checkLog looks at the log's size, rotates it when it reached
// LogMaxBytes, and decides how to look next: the timer while it grows,
// the watch once it is quiet.
func (d *Daemon) checkLog(now time.Time) {
	timed := !d.logCheckAt.IsZero() // the timer's look: it was growing since the last
	d.logCheckAt = time.Time{}
	if d.spec.LogMaxBytes <= 0 || d.m.state == Stopped || !d.rotates() {
		d.unwatchLog()
		return
	}
	var st unix.Stat_t
	size := int64(-1)
	if unix.Stat(d.f.logPath(), &st) == nil {
		size = st.Size
	}
	grew := size != d.logSeen
	if !timed {
		d.logRate = 0 // woken from quiet: its rate is measured anew
	}
	if timed && grew && size > d.logSeen && now.After(d.logSeenAt) {
		// The rate estimate falls only by half per look: a writer that was
		// held up (a rotation's collapse holds its writes) is not taken
		// for a slow one.
		rate := float64(size-d.logSeen) / now.Sub(d.logSeenAt).Seconds()
		d.logRate = max(rate, d.logRate/2)
	}
	if size >= d.spec.LogMaxBytes-d.spec.LogMaxBytes*logEarly/100 {
		d.rotateLog()
		if unix.Stat(d.f.logPath(), &st) == nil {
			size = st.Size
		}
	}
	d.logSeen, d.logSeenAt = size, now
	if !grew {
		if d.logWD < 0 && d.own.hub != nil {
			d.logWD = d.own.hub.watchFile(d.f.logPath(), d, fileLog)
		}
		return
	}
	// Growing: the timer, not an event per write.
	if d.logWD >= 0 {
		d.own.hub.unwatchFile(d.logWD)
		d.logWD = -1
	}
	wait := logLookFirst // it just woke: measure its rate
	if d.logRate > 0 {
		wait = time.Duration(float64(d.spec.LogMaxBytes) / logSlack / d.logRate * float64(time.Second))
	}
	d.logCheckAt = now.Add(min(max(wait, logLookMin), logLookMax))
}

// rotateLog rotates the daemon's log: <name>.log.1 ... .N move up one, the
// head of the log is copied into a new <name>.log.1 and then cut out of
// the log with fallocate(COLLAPSE_RANGE). The daemon's O_APPEND fd stays
// valid and what it writes meanwhile stays in the log: nothing is lost,
// though the one line that straddles the cut (a multiple of the block
// size) is split between the two files. Where the filesystem cannot
// collapse (tmpfs, older ones), the rest of the log is copied too and the
// log truncated: a line written between that copy and the truncation is
// lost, the one window left.
//
// It holds an exclusive flock on the log meanwhile; a Follower holds a
// shared one while it reads, so it sees the rotation whole. When a
// Follower holds it, the rotation waits for the next look: Poll never
// waits. The copy is bounded by the log's size.
func (d *Daemon) rotateLog() {
	log := d.f.logPath()
	var st unix.Stat_t
	if unix.Stat(log, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return
	}
	fd, err := unix.Open(log, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
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
		shiftLogBackups(log, keep)
		// The head goes to a new .1 whole or not at all (a Follower never
		// sees half of it).
		if err := writeAtomicWith(log+".1", func(out int) error { return copyRange(fd, out, 0, cut) }); err != nil {
			return
		}
	}
	err = unix.Fallocate(fd, unix.FALLOC_FL_COLLAPSE_RANGE, 0, cut)
	if err == nil {
		return
	}
	// No collapse here: copy the rest too, then truncate.
	if keep > 0 {
		if unix.Fstat(fd, &st) != nil || appendRange(fd, log+".1", cut, st.Size) != nil {
			return
		}
	}
	unix.Ftruncate(fd, 0)
}

// shiftLogBackups renames <log>.i to <log>.i+1 for i = keep-1 ... 1, dropping
// <log>.keep.
func shiftLogBackups(log string, keep int) {
	os.Remove(log + "." + strconv.Itoa(keep))
	for i := keep - 1; i >= 1; i-- {
		os.Rename(log+"."+strconv.Itoa(i), log+"."+strconv.Itoa(i+1))
	}
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
