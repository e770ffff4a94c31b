package launcher

import (
	"errors"
	"time"

	"golang.org/x/sys/unix"
)

// waker is a Manager's one background goroutine. It sleeps in epoll_wait
// on the daemons' pidfds (readable: the process exited), their readiness
// fds, a timerfd armed for the next deadline, and an eventfd that Close
// uses to stop it. When anything fires it sends a non-blocking wake-up on
// a channel of capacity 1 and goes back to sleep; it never touches a
// daemon. With nothing happening it makes no wake-ups at all. Only where
// the kernel has no pidfds does it also tick, once a second.
type waker struct {
	epfd, evfd, tfd int
	wake            chan struct{}
	done            chan struct{}
	tick            int // epoll timeout in ms: -1, or 1000 without pidfds
}

func newWaker(wake chan struct{}) (*waker, error) {
	w := &waker{epfd: -1, evfd: -1, tfd: -1, wake: wake, done: make(chan struct{}), tick: -1}
	var err error
	if w.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	if w.evfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		w.closeFDs()
		return nil, err
	}
	if w.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_CLOEXEC|unix.TFD_NONBLOCK); err != nil {
		w.closeFDs()
		return nil, err
	}
	for _, fd := range []int{w.evfd, w.tfd} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			w.closeFDs()
			return nil, err
		}
	}
	if !pidfdOK() {
		w.tick = 1000
	}
	go w.loop()
	return w, nil
}

func (w *waker) loop() {
	defer close(w.done)
	var evs [32]unix.EpollEvent
	var buf [8]byte
	for {
		n, err := unix.EpollWait(w.epfd, evs[:], w.tick)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		for _, ev := range evs[:max(n, 0)] {
			switch int(ev.Fd) {
			case w.evfd:
				return
			case w.tfd:
				unix.Read(w.tfd, buf[:]) // expirations: just drain
			}
		}
		if n > 0 || w.tick > 0 {
			w.signal()
		}
	}
}

// signal sends a wake-up without ever blocking.
func (w *waker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// watch adds fd (a pidfd or a readiness fd) for one wake-up; rewatch arms
// it again after a Poll has read what it had.
func (w *waker) watch(fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: int32(fd)}
	err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	if errors.Is(err, unix.EEXIST) {
		err = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	}
	return err
}

// arm sets the timer to fire once at deadline (zero: never).
func (w *waker) arm(deadline time.Time) {
	var spec unix.ItimerSpec
	if !deadline.IsZero() {
		d := max(time.Until(deadline), time.Microsecond) // zero would disarm
		spec.Value = unix.NsecToTimespec(d.Nanoseconds())
	}
	unix.TimerfdSettime(w.tfd, 0, &spec, nil)
}

// close stops the goroutine and returns once it has.
func (w *waker) close() {
	one := [8]byte{1}
	unix.Write(w.evfd, one[:])
	<-w.done
	w.closeFDs()
}

func (w *waker) closeFDs() {
	for _, fd := range []int{w.tfd, w.evfd, w.epfd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}
