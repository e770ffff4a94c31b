// waker_linux.go is an owner's (a lone Daemon's or a Manager's) wake-up
// machinery: one epoll set of everything that can give Poll work, and the
// one background goroutine that turns its readiness into a wake-up.

package launcher

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// hub is the epoll machinery of one owner. Everything the owner's daemons
// can wait for (pidfds, readiness fds, the pid dirs' inotify watch, a
// timerfd for the nearest deadline) is in one level-triggered epoll set,
// inner, which only Poll drains (epoll_wait with timeout 0): so Poll learns
// exactly which daemons have work, and touches no other.
//
// Wake-ups are lazy: only when the owner's Wake is first asked for does a
// goroutine start. It sleeps in epoll_wait on a second set, outer, that
// holds inner (one-shot) and an eventfd for Close, and sends a non-blocking
// wake-up when inner turns readable; Poll re-arms it after draining inner.
// So with nothing happening there are no wake-ups at all, and the goroutine
// never touches a daemon.
type hub struct {
	inner, tfd, ifd int
	dirs            map[string]*dirWatch   // by path
	wds             map[int32]*dirWatch    // by inotify watch descriptor
	pending         map[string]*pendingDir // missing pid dirs, by path (watchdir_linux.go)
	rechecks        []*dirWatch            // pid dirs to look at again (a lock removed in them) ...
	recheckAt       time.Time              // ... then
	recheckN        int                    // ... the looks so far
	fileWds         map[int32]fileWatch    // watches on single files: readiness files, logs

	xw       *exitWatch // the proc connector, as root, once a non-child is adopted
	xwFailed bool       // ... could not be had: do not try again

	outer, evfd int      // -1 until the goroutine starts
	outerFile   *os.File // outer in the runtime's poller, which then owns the fd; nil if not
	wake        chan struct{}
	done        chan struct{}

	evbuf [64]unix.EpollEvent
	ibuf  [4096]byte
}

func newHub(wake chan struct{}) (*hub, error) {
	h := &hub{inner: -1, tfd: -1, ifd: -1, outer: -1, evfd: -1, wake: wake,
		dirs: map[string]*dirWatch{}, wds: map[int32]*dirWatch{}, fileWds: map[int32]fileWatch{}}
	var err error
	if h.inner, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	if h.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC|unix.TFD_NONBLOCK); err != nil {
		h.close()
		return nil, err
	}
	if h.ifd, err = unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK); err != nil {
		h.close()
		return nil, err
	}
	if err := h.add(h.tfd, evTimer, -1); err != nil {
		h.close()
		return nil, err
	}
	if err := h.add(h.ifd, evInotify, -1); err != nil {
		h.close()
		return nil, err
	}
	return h, nil
}

// add puts fd in the inner set (or arms it again); slot says whose it is.
// Registrations are one-shot: collect reports each once, however many are
// ready, and whoever reads the fd arms it again (add) if it still wants to
// hear of it. A pidfd, whose readiness is for good, is never armed again.
func (h *hub) add(fd, kind, slot int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(slot), Pad: int32(kind)}
	err := unix.EpollCtl(h.inner, unix.EPOLL_CTL_MOD, fd, &ev)
	if errors.Is(err, unix.ENOENT) {
		err = unix.EpollCtl(h.inner, unix.EPOLL_CTL_ADD, fd, &ev)
	}
	return err
}

// del takes fd out of the inner set (before it is closed).
func (h *hub) del(fd int) {
	if fd >= 0 {
		unix.EpollCtl(h.inner, unix.EPOLL_CTL_DEL, fd, nil)
	}
}

// collect drains the inner set without waiting: fn gets each ready
// registration's kind and slot, once (they are one-shot).
func (h *hub) collect(fn func(kind, slot int, events uint32)) {
	for {
		n, err := unix.EpollWait(h.inner, h.evbuf[:], 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		for _, ev := range h.evbuf[:max(n, 0)] {
			fn(int(ev.Pad), int(ev.Fd), ev.Events)
		}
		if n < len(h.evbuf) {
			return
		}
	}
}

// fileWatch is whose a watch on a single file is, and which file.
type fileWatch struct {
	d    *Daemon
	kind fileKind
}

// watchFile watches one file of d's for writes (a readiness file whose
// daemon writes without closing, a log that may grow past LogMaxBytes);
// -1 when it cannot.
func (h *hub) watchFile(path string, d *Daemon, kind fileKind) int32 {
	wd, err := unix.InotifyAddWatch(h.ifd, path, unix.IN_MODIFY|unix.IN_CLOSE_WRITE)
	if err != nil {
		return -1
	}
	h.fileWds[int32(wd)] = fileWatch{d, kind}
	return int32(wd)
}

func (h *hub) unwatchFile(wd int32) {
	unix.InotifyRmWatch(h.ifd, uint32(wd))
	delete(h.fileWds, wd)
}

// cString returns b up to its first NUL.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// drainTimer reads the timerfd's expirations and arms its registration.
func (h *hub) drainTimer() {
	var buf [8]byte
	unix.Read(h.tfd, buf[:])
	h.add(h.tfd, evTimer, -1)
}

// arm sets the timer to fire once at deadline (zero: never).
func (h *hub) arm(deadline time.Time) {
	var spec unix.ItimerSpec
	if !deadline.IsZero() {
		d := max(time.Until(deadline), time.Microsecond) // zero would disarm
		spec.Value = unix.NsecToTimespec(d.Nanoseconds())
	}
	unix.TimerfdSettime(h.tfd, 0, &spec, nil)
}

// start starts the wake-up goroutine, once.
func (h *hub) start() error {
	if h.done != nil {
		return nil
	}
	var err error
	if h.outer, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return err
	}
	if h.evfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		unix.Close(h.outer)
		h.outer = -1
		return err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(h.evfd)}
	unix.EpollCtl(h.outer, unix.EPOLL_CTL_ADD, h.evfd, &ev)
	ev = unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(h.inner)}
	unix.EpollCtl(h.outer, unix.EPOLL_CTL_ADD, h.inner, &ev)
	// outer goes into the Go runtime's poller, so the goroutine waits
	// parked, not in a system call of its own thread: when a daemon exits,
	// the thread that wakes is the runtime's, which runs the goroutine and
	// then, on the same thread, the caller's goroutine it wakes. A thread
	// blocked in epoll_wait kept its P while the woken caller waited in
	// it for another thread to steal it: about 0.3 ms per exit on a VM.
	var rc syscall.RawConn
	if pidfdOK() && unix.SetNonblock(h.outer, true) == nil {
		h.outerFile = os.NewFile(uintptr(h.outer), "launcher-wake")
		rc, _ = h.outerFile.SyscallConn()
	}
	h.done = make(chan struct{})
	go h.loop(rc)
	return nil
}

// loop sends a wake-up each time outer turns readable, until Close. It
// waits in the runtime's poller when rc is set; otherwise (no pidfds, whose
// exits then give no readiness, or an outer the poller cannot take) in
// epoll_wait.
func (h *hub) loop(rc syscall.RawConn) {
	defer close(h.done)
	var evs [2]unix.EpollEvent
	closing := false
	// take reads what outer has without waiting; false: nothing yet.
	take := func(fd uintptr) bool {
		n, _ := unix.EpollWait(int(fd), evs[:], 0)
		for _, ev := range evs[:max(n, 0)] {
			if int(ev.Fd) == h.evfd {
				closing = true
			}
		}
		return n > 0
	}
	for rc != nil && !closing {
		if err := rc.Read(take); err != nil {
			break // not pollable after all: wait below
		}
		if !closing {
			h.signal()
		}
	}
	tick := -1
	if !pidfdOK() {
		tick = 1000 // no pidfds: exits give no readiness, so look once a second
	}
	for !closing {
		n, err := unix.EpollWait(h.outer, evs[:], tick)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if n == 0 && tick > 0 {
			h.signal()
		}
		for _, ev := range evs[:max(n, 0)] {
			if int(ev.Fd) == h.evfd {
				return
			}
			h.signal()
		}
	}
}

// rearm lets the goroutine wake again once inner is readable; Poll calls
// it after draining inner.
func (h *hub) rearm() {
	if h.outer < 0 {
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(h.inner)}
	unix.EpollCtl(h.outer, unix.EPOLL_CTL_MOD, h.inner, &ev)
}

// signal sends a wake-up without ever blocking.
func (h *hub) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// setExitPIDs makes the proc connector report the exits of pids (adopted
// processes that are not our children, whose status waitid cannot give).
// It is opened at the first such pid, as root only; elsewhere (or when it
// cannot be had) the status comes from PIDFD_INFO_EXIT or an exit record.
func (h *hub) setExitPIDs(pids []int) {
	if h.xw == nil {
		if len(pids) == 0 || h.xwFailed || os.Geteuid() != 0 {
			return
		}
		xw, err := openExitWatch()
		if err == nil {
			err = h.add(xw.fd(), evConnector, -1)
			if err != nil {
				xw.close()
			}
		}
		if err != nil {
			h.xwFailed = true
			return
		}
		h.xw = xw
	}
	h.xw.setPIDs(pids)
}

// readExits drains the proc connector.
func (h *hub) readExits(fn func(pid int, st *ExitStatus)) {
	if h.xw != nil {
		h.xw.read(fn)
		h.add(h.xw.fd(), evConnector, -1)
	}
}

// close stops the goroutine (returning once it has) and closes every fd.
func (h *hub) close() {
	if h.xw != nil {
		h.del(h.xw.fd())
		h.xw.close()
		h.xw = nil
	}
	if h.done != nil {
		one := [8]byte{1}
		unix.Write(h.evfd, one[:])
		<-h.done
		h.done = nil
	}
	if h.outerFile != nil {
		h.outerFile.Close()
		h.outerFile, h.outer = nil, -1
	}
	for _, fd := range []int{h.evfd, h.outer, h.ifd, h.tfd, h.inner} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	h.evfd, h.outer, h.ifd, h.tfd, h.inner = -1, -1, -1, -1, -1
}
