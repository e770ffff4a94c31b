// logtail.go is Follow: a daemon's log lines (or all of a Manager's) on a
// channel as they are written, lossless through truncation, renaming and
// re-creation; the engine watches the log dir with fsnotify and falls back
// to polling. Reading across a rotation is logtail_rotate.go's.

package launcher

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// MaxLineBytes is the longest line Follow delivers whole. A longer line
// comes in pieces of MaxLineBytes, each but the last marked Partial, so a
// daemon that writes without newlines costs bounded memory.
const MaxLineBytes = 64 << 10

// Line is one line of a daemon's log, without its newline. Binary output
// comes as it is, cut at newlines.
type Line struct {
	Daemon string
	Text   string
	// Partial: the line was longer than MaxLineBytes and goes on in the
	// next Line of the same daemon.
	Partial bool
	// Notice: a word from launcher, not from the log (following fell back
	// to polling, a log is not a regular file); Text says what.
	Notice bool
}

// From says where Follow starts in a log.
type From struct {
	start bool
	lastN int
}

// Where Follow starts: at the end (only what is written from now on), at
// the beginning, or with the last n lines.
var (
	FromEnd   = From{}
	FromStart = From{start: true}
)

// LastLines starts Follow with the last n lines of the log.
func LastLines(n int) From { return From{lastN: max(n, 0)} }

// Follow delivers the daemon's log, line by line, on the returned
// Follower's channel. See Follower.
func (d *Daemon) Follow(ctx context.Context, from From) (*Follower, error) {
	return follow(ctx, []followTarget{{name: d.spec.Name, path: d.f.logPath()}}, from)
}

// Follow delivers the logs of every daemon the Manager has now, each line
// tagged with its daemon, on one Follower.
func (m *Manager) Follow(ctx context.Context, from From) (*Follower, error) {
	var ts []followTarget
	for _, d := range m.Daemons() {
		ts = append(ts, followTarget{name: d.Name(), path: d.LogFile()})
	}
	return follow(ctx, ts, from)
}

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
