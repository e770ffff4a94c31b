// files_channels.go is the pid dir's channel files: the input FIFO
// (<name>.stdin), the notify socket's path (<name>.notify) and the
// readiness file (<name>.ready). Part of files.go's job.

package launcher

import (
	"bytes"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openInputFIFO makes (if needed) and opens <name>.stdin, the FIFO an
// InputFIFO daemon reads as stdin. It is opened read-write, which never
// blocks and keeps the daemon from reading end-of-file whenever no
// controller has it open; data (if any) is put in it at once.
func openInputFIFO(path string, data []byte) (int, error) {
	if err := unix.Mkfifo(path, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
		return -1, &os.PathError{Op: "mkfifo", Path: path, Err: err}
	}
	fd, err := openFile(path, unix.O_RDWR|unix.O_NONBLOCK, 0, unix.S_IFIFO)
	if err != nil {
		return -1, err
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

// clearSocket removes a socket an earlier controller left at path, for a
// bind; anything else there is not ours to remove.
func clearSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return detail(ErrBadSpec, "%s exists and is not a socket", path)
	}
	return os.Remove(path)
}

// openReady opens, emptied, the readiness file a ReadyFD daemon gets as its
// NotifyFD: for appending, blocking as programs expect of an fd.
func openReady(path string) (int, error) {
	fd, err := openFile(path, unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND|unix.O_NONBLOCK, 0o644, unix.S_IFREG)
	if err != nil {
		return -1, err
	}
	if err := unix.Ftruncate(fd, 0); err != nil {
		unix.Close(fd)
		return -1, err
	}
	unix.SetNonblock(fd, false)
	return fd, nil
}

// readyWritten reports whether a line was written to the readiness file.
func readyWritten(path string) bool {
	b, _, err := readSmallFile(path, 4096)
	return err == nil && bytes.IndexByte(b, '\n') >= 0
}
