// notify.go is a daemon's readiness channel: the sd_notify socket
// (ReadyNotify) and the readiness file (ReadyFD). The socket is Linux's
// (notify_linux.go).

package launcher

import (
	"bytes"

	"golang.org/x/sys/unix"
)

// notifier is a daemon's readiness channel, owned by its Daemon.
//
// ReadyNotify: an sd_notify datagram socket at <PIDDir>/<name>.notify. Only
// the controller that must act on readiness binds it: the supervisor (the
// lease holder) or, without one, the controller that starts the daemon. A
// controller that only looks never binds (and so never takes it from the
// one that does). A controller that binds after an earlier one died gets
// the messages sent from then on; a readiness seen earlier is in the
// identity record (identity.Ready), written by whoever saw it.
//
// ReadyFD: the daemon's fd NotifyFD is <PIDDir>/<name>.ready, a regular
// file opened for appending and emptied at each spawn. Its writes never
// fail, whoever watches (no EPIPE when a controller died), and what it
// wrote stays for any later controller to read: the file is the record.
// The dir watch sees the write when the daemon closes the fd (as s6's
// protocol has it); a watch on the file itself sees it when it does not.
type notifier struct {
	mode      ReadyMode
	sockPath  string
	readyPath string
	fd        int   // ReadyNotify: the bound socket (non-blocking, close-on-exec); -1 when not bound
	wd        int32 // ReadyFD: the inotify watch on the readiness file while starting; -1
	buf       [4096]byte
	oob       []byte
}

// notifyMsg is what one read of the channel found.
type notifyMsg struct {
	ready, watchdog, stopping bool
	status                    string
	hasStatus                 bool
}

// sockaddrMax is the longest path a unix socket address holds.
const sockaddrMax = 107

func newNotifier(mode ReadyMode, sockPath, readyPath string) *notifier {
	return &notifier{mode: mode, fd: -1, wd: -1, sockPath: sockPath, readyPath: readyPath}
}

// env returns what the daemon's environment needs for this channel.
func (n *notifier) env() []string {
	if n.mode == ReadyNotify {
		return []string{"NOTIFY_SOCKET=" + n.sockPath}
	}
	return nil
}

// prepare opens, before a spawn, the readiness file the daemon gets as
// NotifyFD (ReadyFD), emptied; -1 for other modes. The caller closes it
// after the spawn.
func (n *notifier) prepare() (int, error) {
	if n.mode != ReadyFD {
		return -1, nil
	}
	return openReady(n.readyPath)
}

// readyWritten reports whether the daemon wrote a line to its readiness
// file (ReadyFD).
func (n *notifier) readyWritten() bool { return readyWritten(n.readyPath) }

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

// close closes the socket. Its file stays: a newer controller may have
// bound it already, and the next bind replaces a stale one.
func (n *notifier) close() {
	if n.fd >= 0 {
		unix.Close(n.fd)
		n.fd = -1
	}
}
