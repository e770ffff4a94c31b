// readlog.go is ReadLog: the seed's way of reading a daemon's log, what was
// appended since the last call.

package launcher

import (
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
	fd, err := openFile(d.f.logPath(), unix.O_RDONLY|unix.O_NONBLOCK, 0, unix.S_IFREG)
	if errors.Is(err, os.ErrNotExist) {
		d.logOffSet = true
		d.logOffset = 0
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), d.f.logPath())
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New(d.f.logPath() + ": not a regular file")
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
