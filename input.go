package launcher

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// ErrInputFull: WriteInput found the daemon's input pipe full (the daemon
// is not reading fast enough, or at all). Nothing or only part was written;
// the error says how much.
var ErrInputFull = errors.New("input pipe is full")

// openInputFIFO makes (if needed) and opens <name>.stdin, the FIFO an
// InputFIFO daemon reads as stdin. It is opened read-write, which never
// blocks and keeps the daemon from reading end-of-file whenever no
// controller has it open; data (if any) is put in it at once.
func openInputFIFO(path string, data []byte) (int, error) {
	if err := unix.Mkfifo(path, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, &os.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return -1, detail(ErrSymlink, "%s", path)
		}
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		unix.Close(fd)
		return -1, fmt.Errorf("%s exists and is not a FIFO", path)
	}
	if len(data) > 0 {
		if err := writeAll(fd, data); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	// The daemon reads it blocking, as programs expect of stdin.
	unix.SetNonblock(fd, false)
	return fd, nil
}

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
// is ErrNotRunning. Writes of up to 4096 bytes are atomic: they never
// interleave with another controller's.
func (d *Daemon) WriteInput(b []byte) error {
	if !d.spec.InputFIFO {
		return &Error{Op: "write-input", Daemon: d.spec.Name, Err: detail(ErrBadSpec, "InputFIFO is not set")}
	}
	fd, err := unix.Open(d.files.stdin, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENOENT):
		return &Error{Op: "write-input", Daemon: d.spec.Name, Err: ErrNotRunning}
	case errors.Is(err, unix.ELOOP):
		return &Error{Op: "write-input", Daemon: d.spec.Name, Err: detail(ErrSymlink, "%s", d.files.stdin)}
	case err != nil:
		return &Error{Op: "write-input", Daemon: d.spec.Name, Err: &os.PathError{Op: "open", Path: d.files.stdin, Err: err}}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return &Error{Op: "write-input", Daemon: d.spec.Name, Err: fmt.Errorf("%s is not a FIFO", d.files.stdin)}
	}
	if err := writeAll(fd, b); err != nil {
		return &Error{Op: "write-input", Daemon: d.spec.Name, Err: err}
	}
	return nil
}
