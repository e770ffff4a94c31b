package launcher

import (
	"context"
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// readLogBudget is the most ReadLog returns in one call; the rest comes on
// the next call, so one call never does unbounded I/O.
const readLogBudget = 1 << 20

// ReadLog returns what was appended to the daemon's log since the last
// call. The first call only sets the offset to the current end and returns
// nothing (the seed's rule): call it before an operation, then again after
// to see what the operation wrote. When the log has shrunk (truncated or
// replaced), reading starts again from its beginning. A call returns at
// most 1 MiB; the rest comes on the next call. A missing log reads as
// empty.
func (d *Daemon) ReadLog() ([]byte, error) {
	d.logMu.Lock() // its own: a read never holds up Poll
	defer d.logMu.Unlock()
	b, err := d.readLog()
	if err != nil {
		return nil, &Error{Op: "read-log", Daemon: d.spec.Name, Err: err}
	}
	return b, nil
}

func (d *Daemon) readLog() ([]byte, error) {
	// Non-blocking and never through a symlink: a FIFO planted at the
	// log's path is refused, not waited on.
	fd, err := openFile(d.f.log, unix.O_RDONLY|unix.O_NONBLOCK, 0, unix.S_IFREG)
	if errors.Is(err, os.ErrNotExist) {
		d.logOffSet = true
		d.logOffset = 0
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), d.f.log)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New(d.f.log + ": not a regular file")
	}
	size := st.Size()
	if !d.logOffSet {
		d.logOffSet, d.logOffset = true, size
		return nil, nil
	}
	if size < d.logOffset {
		d.logOffset = 0
	}
	n := min(size-d.logOffset, readLogBudget)
	if n <= 0 {
		return nil, nil
	}
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, d.logOffset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	d.logOffset += int64(got)
	return buf[:got], nil
}

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
	return follow(ctx, []followTarget{{name: d.spec.Name, path: d.f.log}}, from)
}

// Follow delivers the logs of every daemon the Manager has now, each line
// tagged with its daemon, on one Follower.
func (m *Manager) Follow(ctx context.Context, from From) (*Follower, error) {
	var ts []followTarget
	for _, d := range m.Daemons() {
		ts = append(ts, followTarget{name: d.spec.Name, path: d.f.log})
	}
	return follow(ctx, ts, from)
}
