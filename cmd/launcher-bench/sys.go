//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// mono is CLOCK_MONOTONIC in ns: the clock of the proc connector's
// timestamps, so that a time taken here and one taken by the kernel can be
// subtracted.
func mono() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// procConn is a socket on the kernel's process events connector (root
// only): the kernel's own timestamps of every exec and exit, on the clock
// of mono. It is non-blocking and read only between trials, so it adds no
// wake-up to what a trial measures.
type procConn struct {
	fd    int
	buf   []byte
	lost  bool            // ENOBUFS since the last drain: events were dropped
	exits map[int]int64   // pid → exit timestamp, since the last drain
	execs map[int][]int64 // pid → exec timestamps, since the last drain
}

const (
	cnIdxProc         = 1
	cnValProc         = 1
	procCnMcastListen = 1
	procEventExec     = 0x00000002
	procEventExit     = 0x80000000
)

func openProcConn() (*procConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20) // as root; else the default
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// nlmsghdr (16) + cn_msg (20) + the operation (4)
	var msg [40]byte
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.NLMSG_DONE)
	ne.PutUint32(msg[12:], uint32(os.Getpid()))
	ne.PutUint32(msg[16:], cnIdxProc)
	ne.PutUint32(msg[20:], cnValProc)
	ne.PutUint16(msg[32:], 4)
	ne.PutUint32(msg[36:], procCnMcastListen)
	if err := unix.Sendto(fd, msg[:], 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &procConn{fd: fd, buf: make([]byte, 1<<16)}, nil
}

// drainAll reads every waiting event without blocking and keeps the
// exits and execs; it forgets those of the previous drain. A nil c does
// nothing.
func (c *procConn) drainAll() {
	if c == nil {
		return
	}
	c.exits, c.execs, c.lost = map[int]int64{}, map[int][]int64{}, false
	ne := binary.NativeEndian
	for {
		n, _, err := unix.Recvfrom(c.fd, c.buf, 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			c.lost = true
			continue
		case err != nil || n <= 0:
			return
		}
		msgs, err := syscall.ParseNetlinkMessage(c.buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			// cn_msg (20), then proc_event: what, cpu, timestamp_ns, data
			if len(m.Data) < 20+24 {
				continue
			}
			ev := m.Data[20:]
			ts := int64(ne.Uint64(ev[8:]))
			pid, tgid := int(ne.Uint32(ev[16:])), int(ne.Uint32(ev[20:]))
			switch ne.Uint32(ev[0:]) {
			case procEventExec:
				c.execs[tgid] = append(c.execs[tgid], ts)
			case procEventExit:
				if pid == tgid { // the process, not one of its threads
					c.exits[tgid] = ts
				}
			}
		}
	}
}

// stamps returns the kernel's timestamps of exited's exit and of execd's
// last exec (execd 0: none wanted); 0 for what it did not see, or for a
// nil c. The kernel sends an exit event after it has woken the pidfd's
// pollers, and an exec event after it has closed the close-on-exec fds
// (os.StartProcess returns then), so what is missing is waited for, up
// to 200ms.
func (c *procConn) stamps(exited, execd int) (exit, exec int64) {
	if c == nil {
		return 0, 0
	}
	exits, execs := map[int]int64{}, map[int][]int64{}
	for deadline := time.Now().Add(200 * time.Millisecond); ; {
		c.drainAll()
		for k, v := range c.exits {
			exits[k] = v
		}
		for k, v := range c.execs {
			execs[k] = append(execs[k], v...)
		}
		c.exits, c.execs = exits, execs
		exit, _ = c.exit(exited)
		exec, _ = c.exec(execd)
		if (exit != 0 || exited == 0) && (exec != 0 || execd == 0) || time.Now().After(deadline) {
			return exit, exec
		}
		unix.Poll([]unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLIN}}, 5)
	}
}

// exit returns the kernel's timestamp of pid's exit from the last drain.
func (c *procConn) exit(pid int) (int64, bool) {
	if c == nil {
		return 0, false
	}
	ts, ok := c.exits[pid]
	return ts, ok
}

// exec returns the timestamp of pid's last exec from the last drain.
func (c *procConn) exec(pid int) (int64, bool) {
	if c == nil || len(c.execs[pid]) == 0 {
		return 0, false
	}
	return c.execs[pid][len(c.execs[pid])-1], true
}

func (c *procConn) close() {
	if c != nil {
		unix.Close(c.fd)
	}
}

// raiseNofile raises RLIMIT_NOFILE with setrlimit for n daemons: the
// soft limit to the hard one, and the hard one too when it is short (that
// needs CAP_SYS_RESOURCE). Children (the CLI) inherit it. It says what it
// did, for the output, and fails when the limit stays below need: a
// Manager keeps two fds per daemon (its pidfd and its lease), the floor
// one per process, and a spawn that finds no fd fails.
func raiseNofile(n, need int) (string, error) {
	var old, rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		return "", err
	}
	want := uint64(max(need, 4*n+4096)) // with room to spare
	rl = old
	rl.Cur = rl.Max
	err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	var hardErr error
	if err == nil && rl.Max < want {
		nrOpen, _ := os.ReadFile("/proc/sys/fs/nr_open")
		lim, perr := strconv.ParseUint(string(trimNL(nrOpen)), 10, 64)
		if perr != nil {
			lim = want
		}
		up := syscall.Rlimit{Cur: min(want, lim), Max: min(want, lim)}
		if hardErr = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up); hardErr == nil {
			rl = up
		}
	}
	if err != nil {
		return "", fmt.Errorf("setrlimit RLIMIT_NOFILE: %v", err)
	}
	s := fmt.Sprintf("RLIMIT_NOFILE raised with setrlimit: soft %d → %d, hard %d → %d (for -n %d; wanted %d)",
		old.Cur, rl.Cur, old.Max, rl.Max, n, want)
	if hardErr != nil {
		s += fmt.Sprintf("; the hard limit could not be raised: %v", hardErr)
	}
	if rl.Cur < uint64(need) {
		return s, fmt.Errorf("%s: -n %d needs about %d fds (2 per daemon: a Manager keeps each daemon's pidfd and lease); use a smaller -n or raise the hard limit (CAP_SYS_RESOURCE)", s, n, need)
	}
	return s, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return b
}

// pss returns this process's PSS in bytes, from /proc/self/smaps_rollup.
func pss() int64 { return procField("/proc/self/smaps_rollup", "Pss:", 10) << 10 }

// heapLive returns the live heap after a full collection.
func heapLive() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// openFDs counts this process's open fds.
func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents) - 1 // the ReadDir's own
}

// usage is this process's CPU time and voluntary context switches (its
// threads' wake-ups; preemptions by other load are not counted) so far.
func usage() (cpu time.Duration, csw int64) {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), ru.Nvcsw
}

// pidfdOpen opens a pidfd on pid; it fails when pid is gone.
func pidfdOpen(pid int) (int, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	for errors.Is(err, unix.EINTR) {
		fd, err = unix.PidfdOpen(pid, 0)
	}
	return fd, err
}

// waitReadable blocks until pidfd is readable (its process exited) or
// timeout passes, and returns mono() then.
func waitReadable(pidfd int, timeout time.Duration) (int64, error) {
	pfd := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	deadline := time.Now().Add(timeout)
	for {
		n, err := unix.Poll(pfd, int(max(time.Until(deadline), 0)/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, errors.New("process did not exit in time")
		}
		return mono(), nil
	}
}

// loadavg returns the first three fields of /proc/loadavg.
// fsType names the file system dir is on (the ones a pid dir is likely
// on by name, else its magic number).
func fsType(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	switch st.Type {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("0x%x", st.Type)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
