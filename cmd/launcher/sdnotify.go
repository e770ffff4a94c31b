// sdnotify.go: up as a systemd Type=notify service: READY, STATUS,
// WATCHDOG, RELOADING and STOPPING on $NOTIFY_SOCKET.

package main

// `launcher up` as a systemd Type=notify service: the sd_notify protocol,
// sender side (https://www.freedesktop.org/software/systemd/man/sd_notify.html).

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// sdNotifier sends state lines ("READY=1", "STATUS=...") to the service
// manager's socket. A nil *sdNotifier (no NOTIFY_SOCKET) sends nothing.
type sdNotifier struct {
	fd   int
	addr *unix.SockaddrUnix
	// watchdog is how often to send WATCHDOG=1 (half of WATCHDOG_USEC);
	// 0: no watchdog.
	watchdog time.Duration
}

// sdEnv are the variables of the protocol. They are taken out of our
// environment, as sd_notify's unset_environment does: the daemons inherit
// it, and a daemon that found NOTIFY_SOCKET would talk to systemd in up's
// name (the library gives a ready = "notify" daemon a socket of its own).
var sdEnv = []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}

// newSDNotifier reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID and
// unsets them. It returns nil, and no error, without NOTIFY_SOCKET; an
// error for a socket it cannot use (then it sends nothing).
func newSDNotifier() (*sdNotifier, error) {
	env := map[string]string{}
	for _, k := range sdEnv {
		env[k] = os.Getenv(k)
		os.Unsetenv(k)
	}
	path := env["NOTIFY_SOCKET"]
	if path == "" {
		return nil, nil
	}
	if !strings.HasPrefix(path, "/") && !strings.HasPrefix(path, "@") {
		return nil, fmt.Errorf("NOTIFY_SOCKET=%s: only a unix socket path (/...) or an abstract one (@...) is supported", path)
	}
	// Close-on-exec set under ForkLock: SOCK_CLOEXEC is not on every unix.
	syscall.ForkLock.RLock()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	if err == nil {
		unix.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("NOTIFY_SOCKET: %w", err)
	}
	// unix.SockaddrUnix makes a leading @ the NUL of an abstract name.
	return &sdNotifier{fd: fd, addr: &unix.SockaddrUnix{Name: path}, watchdog: watchdogInterval(env, os.Getpid())}, nil
}

// watchdogInterval is how often WATCHDOG=1 is due: half of WATCHDOG_USEC,
// when that is set and WATCHDOG_PID is unset or is pid; else 0.
func watchdogInterval(env map[string]string, pid int) time.Duration {
	usec, err := strconv.ParseUint(env["WATCHDOG_USEC"], 10, 63)
	if err != nil || usec == 0 {
		return 0
	}
	if p := env["WATCHDOG_PID"]; p != "" && p != strconv.Itoa(pid) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// send sends lines, one datagram. Errors are returned for the caller to
// report once; the protocol has no answer.
func (n *sdNotifier) send(lines ...string) error {
	if n == nil {
		return nil
	}
	err := unix.Sendto(n.fd, []byte(strings.Join(lines, "\n")+"\n"), 0, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr.Name, err)
	}
	return nil
}

// reloading is what a reload starts with: systemd (Type=notify-reload, or
// an ExecReload= that waits) holds the unit in "reloading" until the next
// READY=1.
func (n *sdNotifier) reloading() error {
	return n.send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatInt(monotonicClock()/1000, 10))
}

func (n *sdNotifier) close() {
	if n != nil {
		unix.Close(n.fd)
	}
}
