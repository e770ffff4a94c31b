package launcher

import (
	"bytes"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// notifier is a daemon's readiness channel, owned by its Daemon: with
// ReadyNotify an sd_notify datagram socket at <PIDDir>/<name>.notify, bound
// for the Daemon's life (a new controller binds it anew, and an adopted
// daemon's later messages reach it); with ReadyFD the read end of a pipe
// made for each spawn, whose write end the daemon gets as NotifyFD.
type notifier struct {
	mode    ReadyMode
	fd      int // socket or pipe read end: non-blocking, close-on-exec; -1 none
	path    string
	writeFD int // ReadyFD: the pipe's write end until the spawn passes it on
	buf     [4096]byte
	oob     []byte
}

// notifyMsg is what one read of the channel found.
type notifyMsg struct {
	ready, watchdog, stopping bool
	status                    string
	hasStatus                 bool
}

// sockaddrMax is the longest path a unix socket address holds.
const sockaddrMax = 107

func openNotifier(mode ReadyMode, path string) (*notifier, error) {
	n := &notifier{mode: mode, fd: -1, writeFD: -1, path: path}
	if mode != ReadyNotify {
		return n, nil
	}
	if len(path) > sockaddrMax {
		return nil, detail(ErrBadSpec, "notify socket path %s is longer than %d bytes", path, sockaddrMax)
	}
	// A socket left by an earlier controller is replaced; anything else at
	// the path is not ours to remove.
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, detail(ErrBadSpec, "%s exists and is not a socket", path)
		}
		os.Remove(path)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "bind", Path: path, Err: err}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		unix.Close(fd)
		return nil, err
	}
	n.fd = fd
	n.oob = make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	return n, nil
}

// env returns what the daemon's environment needs for this channel.
func (n *notifier) env() []string {
	if n.mode == ReadyNotify {
		return []string{"NOTIFY_SOCKET=" + n.path}
	}
	return nil
}

// prepare makes the pipe of a ReadyFD daemon before a spawn; it returns the
// write end for the child (or -1).
func (n *notifier) prepare() (int, error) {
	if n.mode != ReadyFD {
		return -1, nil
	}
	n.closePipe()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return -1, err
	}
	unix.SetNonblock(p[0], true) // only our end: the daemon's stays blocking
	n.fd, n.writeFD = p[0], p[1]
	return n.writeFD, nil
}

// spawned closes our copy of the write end after a spawn, so that the pipe
// reads EOF once the daemon closes its own.
func (n *notifier) spawned() {
	if n.writeFD >= 0 {
		unix.Close(n.writeFD)
		n.writeFD = -1
	}
}

func (n *notifier) closePipe() {
	n.spawned()
	if n.mode == ReadyFD && n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
}

// read takes every message waiting, without blocking. With ReadyNotify only
// datagrams whose sender is pid count (the kernel vouches for the sender
// through SO_PASSCRED); others are dropped.
func (n *notifier) read(pid int) notifyMsg {
	var m notifyMsg
	if n.fd < 0 {
		return m
	}
	for {
		if n.mode == ReadyFD {
			k, err := unix.Read(n.fd, n.buf[:])
			if k > 0 && bytes.IndexByte(n.buf[:k], '\n') >= 0 {
				m.ready = true
			}
			if k <= 0 || err != nil {
				if k == 0 && err == nil { // EOF: the daemon closed it
					n.closePipe()
				}
				return m
			}
			continue
		}
		k, oobn, _, _, err := unix.Recvmsg(n.fd, n.buf[:], n.oob, unix.MSG_DONTWAIT)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return m
		}
		if sender(n.oob[:oobn]) != pid || pid <= 0 {
			continue
		}
		parseNotify(n.buf[:k], &m)
	}
}

// sender returns the pid in a datagram's SCM_CREDENTIALS, or 0.
func sender(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, msg := range msgs {
		if cred, err := unix.ParseUnixCredentials(&msg); err == nil {
			return int(cred.Pid)
		}
	}
	return 0
}

// parseNotify reads an sd_notify message: newline-separated KEY=value.
func parseNotify(b []byte, m *notifyMsg) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		k, v, _ := bytes.Cut(line, []byte("="))
		switch string(k) {
		case "READY":
			m.ready = m.ready || string(v) == "1"
		case "WATCHDOG":
			m.watchdog = m.watchdog || string(v) == "1"
		case "STOPPING":
			m.stopping = m.stopping || string(v) == "1"
		case "STATUS":
			m.status, m.hasStatus = string(v), true
		}
	}
}

func (n *notifier) close() {
	n.closePipe()
	if n.mode == ReadyNotify && n.fd >= 0 {
		// The socket file stays: a newer controller may have bound it
		// already, and the next bind replaces a stale one.
		unix.Close(n.fd)
		n.fd = -1
	}
}
