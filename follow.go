package launcher

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"
)

// Follower delivers complete lines of one or more logs as they are
// written. It follows truncation (reading again from the start),
// rename-rotation (the renamed file is read to its end before the new one)
// and a deleted and re-created log, watching the logs' directories with
// fsnotify (a watch on the file itself is lost on rename). Where inotify
// is unavailable or out of watches it polls instead, and says so once in a
// Notice line.
//
// Lines are never dropped: when the caller reads slowly, the Follower
// stops reading the files, which keep the data. A partial last line waits
// for its newline. The Follower runs one goroutine (and fsnotify one of
// its own); Close, or cancelling the context given to Follow, stops them,
// and then the channel is closed.
type Follower struct {
	lines  chan Line
	cancel context.CancelFunc
	done   chan struct{}
}

// Lines returns the channel the lines come on. It is closed when the
// Follower stops.
func (f *Follower) Lines() <-chan Line { return f.lines }

// Close stops the Follower and returns once its goroutines have.
func (f *Follower) Close() error {
	f.cancel()
	<-f.done
	return nil
}

// pollEvery is how often a Follower without inotify looks at the logs.
const pollEvery = 250 * time.Millisecond

type followTarget struct{ name, path string }

// tailed is one log being followed.
type tailed struct {
	followTarget
	f *os.File // the file being read; nil while the log is missing
	// old is the file replaced last (rotated or deleted), read once more
	// at the next look: a writer that opened it just before the
	// replacement may still have been writing.
	old    *os.File
	oldOff int64
	// bakIno is the inode of <log>.1 when last looked at: a new one means
	// the log was rotated by copying its head there (launcher's rotation,
	// or another tool's copy-and-truncate), perhaps several times; the
	// unread parts of the new backups are then read (baks) before the log
	// goes on.
	bakIno       uint64
	baks         []bakRead
	lostRotation bool // rotations were missed: the backups were gone
	dev          uint64
	ino          uint64
	off          int64
	partial      []byte
	noticed      bool // a "not a regular file" notice was sent
	missing      bool // nothing at t.path at the last look
}

type follower struct {
	ctx   context.Context
	out   chan Line
	logs  []*tailed
	buf   []byte
	watch *fsnotify.Watcher
	dirs  map[string]uint64 // the directories watched, and their inodes
}

func follow(parent context.Context, targets []followTarget, from From) (*Follower, error) {
	ctx, cancel := context.WithCancel(parent)
	fl := &follower{ctx: ctx, out: make(chan Line, 256), buf: make([]byte, 64<<10)}
	for _, t := range targets {
		fl.logs = append(fl.logs, &tailed{followTarget: t})
	}
	F := &Follower{lines: fl.out, cancel: cancel, done: make(chan struct{})}
	w, werr := fsnotify.NewWatcher()
	if werr == nil {
		fl.dirs = map[string]uint64{}
		for _, t := range fl.logs {
			fl.dirs[filepath.Dir(t.path)] = 0
		}
		for dir := range fl.dirs {
			if werr = w.Add(dir); werr != nil {
				break
			}
			fl.dirs[dir] = inode(dir)
		}
		if werr != nil {
			w.Close()
		} else {
			fl.watch = w
		}
	}
	// Open and position every log before returning, so that "from the
	// end" means the end as of this call.
	for _, t := range fl.logs {
		fl.open(t, from)
	}
	go func() {
		defer close(F.done)
		defer close(fl.out)
		defer fl.close()
		defer cancel()
		if fl.watch != nil {
			defer fl.watch.Close()
		} else if !fl.send(Line{Notice: true, Text: "launcher: following by polling every " + pollEvery.String() + ": " + errString(werr)}) {
			return
		}
		fl.run()
	}()
	return F, nil
}

func errString(err error) string {
	if err == nil {
		return "no inotify"
	}
	return err.Error()
}

// run reads what is there, then waits for changes until cancelled.
func (fl *follower) run() {
	var tick <-chan time.Time
	if fl.watch == nil {
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		tick = t.C
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if fl.watch != nil {
		events, errs = fl.watch.Events, fl.watch.Errors
	}
	// toPolling gives up the watch, once, and says why.
	var poll *time.Ticker
	defer func() {
		if poll != nil {
			poll.Stop()
		}
	}()
	toPolling := func(why string) bool {
		if !fl.send(Line{Notice: true, Text: "launcher: following by polling: " + why}) {
			return false
		}
		events, errs = nil, nil
		poll = time.NewTicker(pollEvery)
		tick = poll.C
		return true
	}
	// A log's directory may be removed, and its watch with it: the
	// kernel does not say so while a file that was in it is still open
	// (ours, or the daemon's stdout). So each look checks that the
	// directories are the ones watched, and while a log is missing (its
	// directory may be going) there is a look every pollEvery.
	var dirCheck *time.Ticker
	defer func() {
		if dirCheck != nil {
			dirCheck.Stop()
		}
	}()
	for {
		missing := false
		for _, t := range fl.logs {
			if !fl.catchUp(t) {
				return
			}
			missing = missing || t.missing
		}
		if events != nil {
			for dir, ino := range fl.dirs {
				if inode(dir) != ino {
					if !toPolling(dir + " was removed") {
						return
					}
					break
				}
			}
		}
		switch {
		case events != nil && missing && dirCheck == nil:
			dirCheck = time.NewTicker(pollEvery)
			tick = dirCheck.C
		case (events == nil || !missing) && dirCheck != nil:
			dirCheck.Stop()
			dirCheck = nil
			if events != nil {
				tick = nil
			}
		}
		select {
		case <-fl.ctx.Done():
			return
		case <-tick:
		case ev := <-events: // any change in a log dir: look at every log (cheap: one stat each)
			if _, ok := fl.dirs[ev.Name]; ok && ev.Has(fsnotify.Remove|fsnotify.Rename) {
				// A watched directory went, and its watch with it.
				if !toPolling(ev.Name + " was removed") {
					return
				}
			}
		case err := <-errs:
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				// The watch is broken: poll from now on.
				if !toPolling(err.Error()) {
					return
				}
			}
		}
	}
}

// open opens t's log (if it exists) and sets the offset per from.
func (fl *follower) open(t *tailed, from From) {
	// O_NONBLOCK: opening a fifo must not wait for a writer (regular
	// files ignore it).
	f, err := os.OpenFile(t.path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return
	}
	sys := st.Sys().(*syscall.Stat_t)
	t.f, t.dev, t.ino = f, uint64(sys.Dev), sys.Ino
	t.bakIno = inode(t.path + ".1")
	switch {
	case from.start:
		t.off = 0
	case from.lastN > 0:
		t.off = lastLinesOffset(f, st.Size(), from.lastN)
	default:
		t.off = st.Size()
	}
}

// lastLinesOffset finds where the last n lines of f start, reading
// backwards at most 1 MiB.
func lastLinesOffset(f *os.File, size int64, n int) int64 {
	const budget = 1 << 20
	var buf [4096]byte
	end := size
	seen := 0
	for pos := size; pos > 0 && size-pos < budget; {
		k := min(int64(len(buf)), pos)
		pos -= k
		if _, err := f.ReadAt(buf[:k], pos); err != nil && !errors.Is(err, io.EOF) {
			return size
		}
		for i := k - 1; i >= 0; i-- {
			if buf[i] != '\n' {
				continue
			}
			if pos+i == end-1 { // the newline ending the last line
				continue
			}
			seen++
			if seen == n {
				return pos + i + 1
			}
		}
		if pos == 0 {
			return 0
		}
	}
	return max(size-budget, 0)
}

// catchUp reads everything new in t's log. It reports false when the
// follower was cancelled while sending.
func (fl *follower) catchUp(t *tailed) bool {
	if t.old != nil {
		cur, off := t.f, t.off
		t.f, t.off = t.old, t.oldOff
		ok := fl.drain(t, false)
		t.old.Close()
		t.f, t.off, t.old = cur, off, nil
		if !ok {
			return false
		}
	}
	st, err := os.Stat(t.path)
	t.missing = err != nil
	switch {
	case err != nil:
		// Deleted or renamed away: read the old file to its end; a new
		// one will be found by a later look.
		return t.f == nil || fl.drain(t, false)
	case !st.Mode().IsRegular():
		if !t.noticed {
			t.noticed = true
			return fl.send(Line{Daemon: t.name, Notice: true, Text: "launcher: " + t.path + " is not a regular file"})
		}
		return true
	}
	sys := st.Sys().(*syscall.Stat_t)
	if t.f != nil && (uint64(sys.Dev) != t.dev || sys.Ino != t.ino) {
		// Replaced (rotated by rename, or deleted and re-created): the
		// old file first, to its end, then the new one from its start.
		if !fl.drain(t, false) {
			return false
		}
		t.old, t.oldOff, t.f = t.f, t.off, nil
	}
	if t.f == nil {
		fl.open(t, FromStart)
		if t.f == nil {
			return true
		}
	}
	if !fl.drain(t, true) {
		return false
	}
	if t.lostRotation {
		t.lostRotation = false
		return fl.send(Line{Daemon: t.name, Notice: true, Text: "launcher: " + t.path + " was rotated beyond its backups before it was read: lines are missing"})
	}
	return true
}

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

// lines splits b (after what was left of the last read) into lines.
func (fl *follower) lines(t *tailed, b []byte) bool {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			t.partial = append(t.partial, b...)
			// Hold up to MaxLineBytes: a line of exactly that length
			// may still end here, and comes whole then.
			for len(t.partial) > MaxLineBytes {
				if !fl.send(Line{Daemon: t.name, Text: string(t.partial[:MaxLineBytes]), Partial: true}) {
					return false
				}
				t.partial = append(t.partial[:0], t.partial[MaxLineBytes:]...)
			}
			return true
		}
		line := b[:i]
		if len(t.partial) > 0 {
			t.partial = append(t.partial, line...)
			line = t.partial
		}
		for len(line) > MaxLineBytes {
			if !fl.send(Line{Daemon: t.name, Text: string(line[:MaxLineBytes]), Partial: true}) {
				return false
			}
			line = line[MaxLineBytes:]
		}
		if !fl.send(Line{Daemon: t.name, Text: string(line)}) {
			return false
		}
		t.partial = t.partial[:0]
		b = b[i+1:]
	}
	return true
}

// send delivers one line, waiting for the reader; false once cancelled.
func (fl *follower) send(l Line) bool {
	select {
	case fl.out <- l:
		return true
	case <-fl.ctx.Done():
		return false
	}
}

// close releases the files.
func (fl *follower) close() {
	for _, t := range fl.logs {
		for _, f := range []*os.File{t.f, t.old} {
			if f != nil {
				f.Close()
			}
		}
		for _, b := range t.baks {
			b.f.Close()
		}
	}
}
