// logtail_rotate.go is the part of the tailing engine (logtail.go) that
// reads a log across its rotation: the renamed file to its end, the backups
// made by a copy rotation, a truncation.

package launcher

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// inode returns the inode of path, or 0.
func inode(path string) uint64 {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0
	}
	return st.Ino
}

// drain reads t.f from t.off to its current end and sends the lines.
// current says t.f is the file now at t.path, whose rotations count.
func (fl *follower) drain(t *tailed, current bool) bool {
	for {
		n := fl.readChunk(t, current)
		if n == 0 {
			return true
		}
		if !fl.lines(t, fl.buf[:n]) {
			return false
		}
	}
}

// bakRead is an unread part of a backup.
type bakRead struct {
	f        *os.File
	off, end int64
}

// readChunk reads the next piece of t's log into fl.buf. It holds a shared
// flock on the log meanwhile, so that a rotation by launcher (which takes
// it exclusively) is seen whole: before it, or after it with its backup.
func (fl *follower) readChunk(t *tailed, current bool) int {
	if n := fl.readBackups(t); n > 0 {
		return n
	}
	fd := int(t.f.Fd())
	for unix.Flock(fd, unix.LOCK_SH) == unix.EINTR {
	}
	defer unix.Flock(fd, unix.LOCK_UN)
	// The log may have been rotated by rename since catchUp looked (the
	// reader can be slow): then t.f is no longer the log, and may even be
	// <log>.1 itself. It is read to its end, and the new log is found at
	// the next look.
	if current && inode(t.path) == t.ino {
		fl.noticeRotation(t)
		if n := fl.readBackups(t); n > 0 {
			return n
		}
	}
	n := readAt(t.f, fl.buf, t.off)
	t.off += int64(n)
	return n
}

// readBackups reads the next piece of the backups still to read.
func (fl *follower) readBackups(t *tailed) int {
	for len(t.baks) > 0 {
		b := &t.baks[0]
		if n := readAt(b.f, fl.buf[:min(int64(len(fl.buf)), b.end-b.off)], b.off); n > 0 {
			b.off += int64(n)
			return n
		}
		b.f.Close()
		t.baks = t.baks[1:]
	}
	return 0
}

func readAt(f *os.File, b []byte, off int64) int {
	if len(b) == 0 {
		return 0
	}
	n, _ := f.ReadAt(b, off)
	return n
}

// noticeRotation adjusts t's offset to a rotation made since the last
// look. Called with the log's flock held.
func (fl *follower) noticeRotation(t *tailed) {
	var bst unix.Stat_t
	ino := uint64(0)
	if unix.Stat(t.path+".1", &bst) == nil {
		ino = bst.Ino
	}
	if ino == t.bakIno {
		var st unix.Stat_t
		if unix.Fstat(int(t.f.Fd()), &st) == nil && st.Size < t.off {
			t.off = 0 // truncated by someone: start again from the top
		}
		return
	}
	prev := t.bakIno
	t.bakIno = ino
	if ino == 0 {
		return // the backups went away; the log itself did not change
	}
	// The backups made since the last look: .1 back to the one before
	// the one that was .1 then (prev), oldest first.
	type backup struct {
		f    *os.File
		size int64
	}
	var newer []backup
	found := prev == 0
	renamed := false // the log itself is among them
	for i := 1; ; i++ {
		p := t.path + "." + strconv.Itoa(i)
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			break
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			break
		}
		pi := st.Sys().(*syscall.Stat_t).Ino
		if pi == prev {
			f.Close()
			found = true
			break
		}
		renamed = renamed || pi == t.ino
		newer = append([]backup{{f, st.Size()}}, newer...)
	}
	// A rotation by rename (logrotate's way) moved this very file to
	// <log>.N, perhaps more than once while the reader was slow: then
	// these are not copies of its head, and this file is no longer the
	// log. It is read to its end; the new log is found at the next look.
	// The log is looked at last, so that a rename in the middle of the
	// look is seen.
	if renamed || inode(t.path) != t.ino {
		for _, b := range newer {
			b.f.Close()
		}
		return
	}
	t.lostRotation = t.lostRotation || !found
	// t.off counts in the log as it was before the oldest of them; each
	// one took the head of the log then.
	for _, b := range newer {
		if t.off >= b.size {
			t.off -= b.size
			b.f.Close()
			continue
		}
		t.baks = append(t.baks, bakRead{f: b.f, off: t.off, end: b.size})
		t.off = 0
	}
}
