// reaper_linux.go is the one place that waits for a process (waitid on its
// pidfd, WNOHANG, our own children only) and signals it through its pidfd.

package launcher

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sigchld is the SIGCHLD part of siginfo_t that waitid fills in: pid and
// status follow signo, errno and code (and padding to the union's
// alignment, which is that of a pointer).
type sigchld struct {
	pid    int32
	uid    uint32
	status int32
}

const sigchldOffset = 3*4 + (unsafe.Sizeof(uintptr(0)) - 4) // 16 on 64-bit, 12 on 32-bit

func siginfoChild(info *unix.Siginfo) *sigchld {
	return (*sigchld)(unsafe.Add(unsafe.Pointer(info), sigchldOffset))
}

// waitid is the one wait of the package (a seam: a test counts the calls).
var waitid = unix.Waitid

// siginfo is what waitid fills in.
type siginfo = unix.Siginfo

// waitNoHang reaps p if it has exited, into p.siginfo (pid 0 there: still
// running).
func (p *process) waitNoHang() error {
	switch {
	case p.pidfd >= 0:
		return waitid(unix.P_PIDFD, p.pidfd, &p.siginfo, unix.WEXITED|unix.WNOHANG, nil)
	case p.own:
		return waitid(unix.P_PID, p.pid, &p.siginfo, unix.WEXITED|unix.WNOHANG, nil)
	}
	return unix.ECHILD
}

// check reports, without waiting, whether the process has exited. Our own
// children are reaped (waitid on their pidfd, or on their pid where there
// are no pidfds) and their status returned; for other processes (adopted
// ones) the status is unknown (nil) unless we became their reaper.
func (p *process) check() (exited bool, st *ExitStatus, err error) {
	if p.done {
		return true, nil, nil
	}
	if !p.own {
		if other, ok := spawned.Load(p.pid); ok && other != p {
			// Another Daemon of this program spawned it and reaps it (its
			// status is that one's); this one only sees that it exited.
			if !p.alive() {
				p.done = true
				return true, nil, nil
			}
			return false, nil, nil
		}
	}
	info := &p.siginfo
	*info = unix.Siginfo{}
	err = p.waitNoHang()
	for errors.Is(err, unix.EINTR) {
		err = p.waitNoHang()
	}
	switch {
	case err == nil:
		c := siginfoChild(info)
		if c.pid == 0 {
			return false, nil, nil // still running
		}
		p.done = true
		spawned.CompareAndDelete(p.pid, p)
		switch info.Code {
		case 1: // CLD_EXITED
			return true, &ExitStatus{Code: int(c.status)}, nil
		case 3: // CLD_DUMPED
			return true, &ExitStatus{Code: -1, Signal: syscall.Signal(c.status), CoreDumped: true}, nil
		default: // CLD_KILLED
			return true, &ExitStatus{Code: -1, Signal: syscall.Signal(c.status)}, nil
		}
	case errors.Is(err, unix.ECHILD):
		// Not our child (adopted): the pidfd turns readable when it exits.
		if !p.alive() {
			p.done = true
			return true, nil, nil
		}
		return false, nil, nil
	default:
		return false, nil, err
	}
}

// alive reports whether the process has not exited, without reaping it. An
// exited process that nobody has reaped yet (state Z) is not alive, which
// kill(pid, 0) would not tell.
func (p *process) alive() bool {
	if p.done {
		return false
	}
	if p.pidfd >= 0 {
		p.pollfd[0] = unix.PollFd{Fd: int32(p.pidfd), Events: unix.POLLIN}
		n, err := unix.Poll(p.pollfd[:], 0)
		if err != nil {
			return true // cannot tell; the next check will
		}
		return n == 0
	}
	st, err := readProcStat(p.pid)
	return err == nil && st.startTicks == p.start && st.state != 'Z' && st.state != 'X'
}

// signal sends sig to the process itself, through its pidfd, so a reused
// pid is never hit.
func (p *process) signal(sig syscall.Signal) error {
	if p.done {
		return ErrNotRunning
	}
	if p.pid <= 1 {
		return errors.New("refusing to signal pid <= 1")
	}
	var err error
	if p.pidfd >= 0 {
		err = unix.PidfdSendSignal(p.pidfd, sig, nil, 0)
	} else if p.own || p.alive() {
		err = unix.Kill(p.pid, sig)
	}
	if errors.Is(err, unix.ESRCH) {
		return ErrNotRunning
	}
	return err
}

// exitInfo asks the kernel (PIDFD_INFO_EXIT, Linux 6.15) how a process
// that is not our child ended; nil until its parent has reaped it, or
// where the kernel cannot tell.
func (p *process) exitInfo() *ExitStatus {
	if p.pidfd < 0 {
		return nil
	}
	info := unix.PidfdInfo{Mask: unix.PIDFD_INFO_EXIT}
	if unix.IoctlPidfdInfo(p.pidfd, &info) != nil || info.Mask&unix.PIDFD_INFO_EXIT == 0 {
		return nil
	}
	return statusFromWait(syscall.WaitStatus(info.Exit_code))
}

// spawned holds the processes this program's Daemons spawned and have not
// reaped: another Daemon of this program that watches the same daemon (a
// lone observer beside a Manager) never reaps one, so its spawner gets
// the status.
var spawned sync.Map // pid → *process

// close releases the pidfd. The process is not touched; if it is ours and
// not reaped, any Daemon of this program may reap it from now on.
func (p *process) close() {
	if p.own && !p.done {
		spawned.CompareAndDelete(p.pid, p)
	}
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
}

// pidfdOK probes once whether the kernel has pidfd_open (Linux 5.3).
var pidfdOK = sync.OnceValue(func() bool {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
})

// openProcess takes a handle on a process that we did not spawn (or spawned
// in an earlier life): a pidfd first, then its /proc stat, so that what the
// caller proves of the stat is true of the process behind the handle (a
// pid reused after the pidfd was opened would not match its start time).
// It returns os.ErrNotExist when there is no such process (pid <= 1 never
// is one). A process that has exited but is not yet reaped (Z) is returned:
// alive reports false, and check reaps it if it is our child.
func openProcess(pid int) (*process, procStat, error) {
	if pid <= 1 {
		return nil, procStat{}, os.ErrNotExist
	}
	p := &process{pid: pid, pidfd: -1}
	if pidfdOK() {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			if errors.Is(err, unix.ESRCH) {
				return nil, procStat{}, os.ErrNotExist
			}
			return nil, procStat{}, err
		}
		p.pidfd = fd
	}
	st, err := readProcStat(pid)
	if err != nil || st.state == 'X' {
		p.close()
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, st, err
		}
		return nil, st, os.ErrNotExist
	}
	p.start = st.startTicks
	p.group = st.pgrp == pid
	return p, st, nil
}

// ReapOrphans reaps the exited children of this process that no Daemon of
// it spawned: orphans reparented to it, as happens to PID 1 in a container
// or to a child subreaper (prctl PR_SET_CHILD_SUBREAPER). It returns their
// pids. The daemons' own processes are left to their Daemons, so their
// exit statuses are not lost; a process a Daemon adopted that exits as
// this process's child has its status read back (PIDFD_INFO_EXIT).
//
// It is for a program that is an init (`launcher up --init`); call it when
// SIGCHLD arrives. It never blocks: it lists this process's children in
// /proc/self/task/*/children and reaps each exited one by its pid.
func ReapOrphans() []int {
	var reaped []int
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(f)
			if err != nil || pid <= 1 {
				continue
			}
			if _, ours := spawned.Load(pid); ours {
				continue
			}
			var info unix.Siginfo
			if unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG, nil) == nil && siginfoChild(&info).pid != 0 {
				reaped = append(reaped, pid)
			}
		}
	}
	return reaped
}
