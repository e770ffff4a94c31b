// reloadcmd_linux.go: SIGHUP through a pidfd, and the wait (inotify and
// pidfd, no polling) for each up's answer.

package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// signalUps sends SIGHUP to each up of targets and waits (at most
// timeout) until each has written a record of a config read after that:
// its answer. A target is signalled through a pidfd opened before its
// start time is checked, so the signal reaches that process or none.
func signalUps(dir string, targets []upRecord, timeout time.Duration) []upAnswer {
	answers := make([]upAnswer, len(targets))
	// Watch before signalling: an answer renamed into place is never missed.
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err == nil {
		defer unix.Close(ifd)
		_, err = unix.InotifyAddWatch(ifd, dir, unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE|unix.IN_DELETE)
	}
	if err != nil {
		for i := range answers {
			answers[i].err = fmt.Errorf("watch %s: %w", dir, err)
		}
		return answers
	}
	asked := bootClock()
	pidfds := make([]int, len(targets))
	for i, t := range targets {
		pidfds[i] = -1
		fd, err := unix.PidfdOpen(t.PID, 0)
		if err != nil {
			answers[i].err = sighupError(err)
			continue
		}
		defer unix.Close(fd)
		if start, err := processStart(t.PID); err != nil || start != t.StartTicks {
			answers[i].err = sighupError(unix.ESRCH) // another process has its pid now
			continue
		}
		if err := unix.PidfdSendSignal(fd, unix.SIGHUP, nil, 0); err != nil {
			answers[i].err = sighupError(err)
			continue
		}
		pidfds[i] = fd
	}
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 4096)
	for {
		// Look at every answer not in yet; then wait for a change in the
		// dir, an up's end, or the deadline.
		fds := []unix.PollFd{{Fd: int32(ifd), Events: unix.POLLIN}}
		for i, t := range targets {
			if pidfds[i] < 0 {
				continue
			}
			rec, err := readUpRecord(upRecordPath(dir, t.PID))
			switch {
			case err == nil && rec.StartTicks == t.StartTicks && rec.ReadAt >= asked:
				answers[i].rec = rec
			case isEnded(pidfds[i]):
				answers[i].err = errors.New("it ended before it answered")
			default:
				fds = append(fds, unix.PollFd{Fd: int32(pidfds[i]), Events: unix.POLLIN})
				continue
			}
			pidfds[i] = -1 // answered: closed by the defer
		}
		if len(fds) == 1 {
			return answers
		}
		left := time.Until(deadline)
		if left <= 0 {
			for i, t := range targets {
				if pidfds[i] >= 0 {
					answers[i].err = fmt.Errorf("no answer in %s after %v", upRecordPath(dir, t.PID), timeout)
				}
			}
			return answers
		}
		if _, err := unix.Poll(fds, int(left.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			for i := range targets {
				if pidfds[i] >= 0 {
					answers[i].err = fmt.Errorf("poll: %w", os.NewSyscallError("poll", err))
				}
			}
			return answers
		}
		for {
			if n, _ := unix.Read(ifd, buf); n <= 0 {
				break
			}
		}
	}
}

func sighupError(err error) error {
	if errors.Is(err, unix.ESRCH) {
		err = errors.New("it ended")
	}
	return fmt.Errorf("send SIGHUP: %w", err)
}

// isEnded reports whether the process of a pidfd has exited.
func isEnded(pidfd int) bool {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}
