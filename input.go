// input.go is a daemon's input FIFO (Spec.InputFIFO): made at its start,
// written by any controller with WriteInput, never blocking.

package launcher

import (
	"errors"

	"golang.org/x/sys/unix"
)

// ErrInputFull: WriteInput found the daemon's input pipe full (the daemon
// is not reading fast enough, or at all). Nothing or only part was written;
// the error says how much.
var ErrInputFull = errors.New("input pipe is full")

// writeAll writes b to a non-blocking fd, or fails with ErrInputFull.
func writeAll(fd int, b []byte) error {
	done := 0
	for done < len(b) {
		n, err := unix.Write(fd, b[done:])
		if n > 0 {
			done += n
		}
		switch {
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			return detail(ErrInputFull, "wrote %d of %d bytes", done, len(b))
		case err != nil:
			return err
		}
	}
	return nil
}

// WriteInput writes b to the daemon's input FIFO (<PIDDir>/<name>.stdin;
// Spec.InputFIFO), from any controller. It never blocks: a full pipe is
// ErrInputFull (with how much was written), and no daemon reading the FIFO
// is ErrNotRunning; a closed Daemon's is ErrClosed. Writes of up to 4096
// bytes are atomic: they never interleave with another controller's.
func (d *Daemon) WriteInput(b []byte) error {
	if err := d.inService(); err != nil {
		return &Error{Op: "write-input", Daemon: d.spec.Name, Err: err}
	}
	if !d.spec.InputFIFO {
		return &Error{Op: "write-input", Daemon: d.spec.Name, Err: detail(ErrBadSpec, "InputFIFO is not set")}
	}
	fd, err := openFile(d.f.stdinPath(), unix.O_WRONLY|unix.O_NONBLOCK, 0, unix.S_IFIFO)
	switch {
	case errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENOENT):
		return &Error{Op: "write-input", Daemon: d.spec.Name, Err: ErrNotRunning}
	case err != nil:
		return &Error{Op: "write-input", Daemon: d.spec.Name, Err: err}
	}
	defer unix.Close(fd)
	if err := writeAll(fd, b); err != nil {
		return &Error{Op: "write-input", Daemon: d.spec.Name, Err: err}
	}
	return nil
}
