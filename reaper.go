// reaper.go is the handle on a daemon's main process and the guards on
// signalling a process group; reaper_linux.go waits and signals.

package launcher

import (
	"errors"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// process is the handle on one daemon's main process. It is the only place
// that waits for or signals a process, and it never waits on anything but
// its own pid, and never without WNOHANG.
type process struct {
	pid   int
	pidfd int  // -1 when the kernel has no pidfds (then pid alone)
	own   bool // our child: its exit status can be reaped
	group bool // it leads its own process group (setsid), so pgid == pid
	start uint64
	// pollfd and siginfo are kept here so that checking a process
	// allocates nothing (a pointer handed to the waitid seam escapes).
	pollfd  [1]unix.PollFd
	siginfo siginfo
	done    bool // exited and (if own) reaped: never signal it again
}

// procIdent names one process for good: a pid and its start time.
type procIdent struct {
	pid   int
	start uint64
}

func (p *process) ident() procIdent { return procIdent{p.pid, p.start} }

// groupIsOurs reports whether process group pgid can still be the group
// of the daemon whose leader was pid pgid with start time start. While any
// member lives the kernel hands out no new process with pid pgid, so a
// live process with that pid but another start time means that the group
// emptied and its number went to somebody else: never signal it.
func groupIsOurs(pgid int, start uint64) bool {
	st, err := readProcStat(pgid)
	return err != nil || st.startTicks == start
}

// signalGroupSafe sends sig to the process group pgid, refusing the groups
// that must never be hit: pgid <= 1 and our own group.
func signalGroupSafe(pgid int, sig syscall.Signal) error {
	if pgid <= 1 || pgid == unix.Getpgrp() {
		return errors.New("refusing to signal process group " + strconv.Itoa(pgid))
	}
	err := unix.Kill(-pgid, sig)
	if errors.Is(err, unix.ESRCH) {
		return nil // the group is gone: nothing to signal
	}
	return err
}
