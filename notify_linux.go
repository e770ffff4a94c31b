// notify_linux.go binds and reads the sd_notify socket (ReadyNotify),
// whose sender pid the kernel vouches for (SO_PASSCRED).

package launcher

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// bind binds the sd_notify socket, replacing one left by an earlier
// controller (anything else at the path is not ours to remove).
func (n *notifier) bind() error {
	if n.mode != ReadyNotify || n.fd >= 0 {
		return nil
	}
	if len(n.sockPath) > sockaddrMax {
		return detail(ErrBadSpec, "notify socket path %s is longer than %d bytes", n.sockPath, sockaddrMax)
	}
	if err := clearSocket(n.sockPath); err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: n.sockPath}); err != nil {
		unix.Close(fd)
		return &os.PathError{Op: "bind", Path: n.sockPath, Err: err}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1); err != nil {
		unix.Close(fd)
		return err
	}
	n.fd = fd
	n.oob = make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	return nil
}

// read takes every datagram waiting on the socket, without blocking. Only
// those whose sender is pid count (the kernel vouches for the sender
// through SO_PASSCRED); others are dropped.
func (n *notifier) read(pid int) notifyMsg {
	var m notifyMsg
	if n.fd < 0 {
		return m
	}
	for {
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
