// run.go is the Manager's ready-made loop and its shutdown: the two calls
// whose job is to wait.

package launcher

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Run is the ready-made loop for a program without its own: it polls
// whenever Wake fires until ctx is done, then shuts down: it stops every
// daemon it supervises (Shutdown) and returns nil once they are all
// stopped and their events are on Events (as Shutdown says). Events still
// go to Events; read them in another goroutine.
// Close afterwards; to leave the daemons running instead, Close (from
// another goroutine) without cancelling ctx: Run then returns nil at once,
// and the daemons go on.
//
// Errors: those of Shutdown; an *Error when the Manager was closed before
// Run began.
func (m *Manager) Run(ctx context.Context) error {
	m.init()
	if m.isClosed() {
		return &Error{Op: "run", Err: errClosed}
	}
	m.Poll(time.Now())
	wake := m.Wake()
	for {
		select {
		case <-ctx.Done():
			return m.shutdown(context.Background(), true)
		case <-m.own.done:
			return nil // closed: the daemons are left running
		case <-wake:
			m.Poll(time.Now())
		}
	}
}

// isClosed reports whether Close was called.
func (m *Manager) isClosed() bool {
	m.own.mu.Lock()
	defer m.own.mu.Unlock()
	return m.own.closed
}

// Shutdown stops every daemon this Manager supervises (in reverse
// dependency order; SIGKILL at each one's StopTimeout, as ever) and polls
// until they are all stopped, delivering their events on Events. It is
// for a program that ends without Run; unlike every other method it
// blocks, until they are stopped (nil) or ctx is done (ctx's error). The
// daemons another Manager supervises are left to it. Close afterwards.
//
// Once they are stopped it also waits for Events to take what it could not
// yet (more events than its buffer), while the consumer takes some each
// second: Close drops what is left undelivered.
//
// Errors: ctx's error; an *Error naming the daemons still not stopped
// when their StopTimeout and a grace period after the SIGKILL have passed
// (a process that cannot be killed, leftovers that keep the lock); an
// *Error when the Manager is closed (before or meanwhile: Close leaves the
// daemons running).
func (m *Manager) Shutdown(ctx context.Context) error { return m.shutdown(ctx, false) }

func (m *Manager) shutdown(ctx context.Context, bounded bool) error {
	m.init()
	if m.isClosed() {
		return &Error{Op: "shutdown", Err: errClosed}
	}
	names := m.Supervising()
	if len(names) == 0 {
		return nil
	}
	m.Stop(names...)
	var limit <-chan time.Time
	if bounded {
		longest := time.Duration(0)
		for _, n := range names {
			longest = max(longest, m.daemon(n).spec.StopTimeout)
		}
		t := time.NewTimer(longest + shutdownGrace)
		defer t.Stop()
		limit = t.C
	}
	wake := m.Wake()
	var allStopped time.Time
	for {
		m.Poll(time.Now())
		var left []string
		for _, n := range names {
			if d := m.daemon(n); d != nil && d.State() != Stopped {
				left = append(left, n)
			}
		}
		if len(left) == 0 {
			if allStopped.IsZero() {
				allStopped = time.Now()
			}
			if !m.undelivered(allStopped) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.own.done:
			return &Error{Op: "shutdown", Err: errClosed}
		case <-limit:
			return &Error{Op: "shutdown", Err: fmt.Errorf("not stopped: %s", strings.Join(left, ", "))}
		case <-wake:
		}
	}
}

// undelivered reports whether events wait for room on Events and the
// consumer took some within undeliveredPatience (of since, at first): a
// consumer that went away is not waited for.
func (m *Manager) undelivered(since time.Time) bool {
	o := m.own
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.pending) == 0 {
		return false
	}
	last := o.lastSent
	if last.Before(since) {
		last = since
	}
	return time.Since(last) < undeliveredPatience
}

// undeliveredPatience is how long shutdown waits for a consumer of Events
// that takes nothing, with events left to deliver.
const undeliveredPatience = time.Second

// shutdownGrace is how long Run's shutdown waits after the longest
// StopTimeout (and so after the SIGKILL) before it gives up.
const shutdownGrace = 5 * time.Second
