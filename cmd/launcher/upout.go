// upout.go is up's output: what up prints is queued without waiting and
// written by a goroutine per output (stdout, stderr), so that a reader
// that stops reading (a pager nobody scrolls, a terminal on hold, a stuck
// log collector) never holds up the supervision, nor the other output,
// and one that goes away (a closed pipe) neither kills up nor stops it.

package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"reflect"
	"sync"
	"syscall"
	"time"
)

// outQueueMax is how many bytes may wait for a slow reader; beyond it
// lines are dropped (and counted). Starting 10 000 daemons prints about
// 1.6 MB of events.
const outQueueMax = 8 << 20

// outFlushWait is how long up, on its way out, waits for what is queued to
// be written: a reader that does not read does not keep it from exiting.
const outFlushWait = 2 * time.Second

// catchSIGPIPE makes a write to a closed pipe fail with EPIPE instead of
// killing the process with SIGPIPE, for the rest of the process (up ends
// soon after its outputs do). The daemons do not inherit that: a signal
// caught is reset to its default by exec.
var catchSIGPIPE = sync.OnceFunc(func() { signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE) })

// upOutputs are up's two outputs, each with its own queue.
type upOutputs struct{ out, err *outQueue }

// newUpOutputs starts the queues of stdout and stderr; a stdout that
// breaks is said on stderr. Where both are the same file (2>&1) one queue
// serves both, so that their lines keep the order they were printed in.
func newUpOutputs(stdout, stderr io.Writer) *upOutputs {
	catchSIGPIPE()
	if sameFile(stdout, stderr) {
		q := newOutQueue(stdout, nil)
		return &upOutputs{out: q, err: q}
	}
	o := &upOutputs{err: newOutQueue(stderr, nil)}
	o.out = newOutQueue(stdout, func(err error) {
		fmt.Fprintf(o.err, "launcher: events are no longer printed: %v\n", err)
	})
	return o
}

// sameFile reports whether a and b are one open file, or one file opened
// twice (a terminal, a pipe, a log file).
func sameFile(a, b io.Writer) bool {
	fa, okA := a.(*os.File)
	fb, okB := b.(*os.File)
	if okA && okB {
		sa, errA := fa.Stat()
		sb, errB := fb.Stat()
		return errA == nil && errB == nil && os.SameFile(sa, sb)
	}
	// Another writer (a test's buffer): the same one, by pointer.
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	return va.Kind() == reflect.Pointer && vb.Kind() == reflect.Pointer && va.Pointer() == vb.Pointer()
}

// close waits, at most wait in all, for both queues to be written.
func (o *upOutputs) close(wait time.Duration) {
	deadline := time.Now().Add(wait)
	o.out.close(time.Until(deadline))
	if o.err != o.out {
		o.err.close(time.Until(deadline))
	}
}

// outQueue holds the lines of one output in the order they were printed,
// until its goroutine writes them. Its Write never waits and never fails.
type outQueue struct {
	w       io.Writer
	broke   func(error) // told once when a write fails; nil: nobody
	max     int         // bytes that may wait (outQueueMax)
	more    chan struct{}
	done    chan struct{} // closed when the goroutine ends
	mu      sync.Mutex
	lines   []outLine
	size    int
	broken  bool // a write failed: nothing more goes out
	closing bool
}

// outLine is a line to write, or a note in place of lines dropped (b nil).
type outLine struct {
	b       []byte
	dropped int
}

func newOutQueue(w io.Writer, broke func(error)) *outQueue {
	q := &outQueue{w: w, broke: broke, max: outQueueMax, more: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

// Write queues a copy of p, or drops it when the queue is full (counted in
// a note in its place, written when the output gets there) or the output
// broken.
func (q *outQueue) Write(p []byte) (int, error) {
	q.mu.Lock()
	switch {
	case q.broken:
	case q.size+len(p) > q.max:
		if n := len(q.lines); n > 0 && q.lines[n-1].b == nil {
			q.lines[n-1].dropped++
		} else {
			q.lines = append(q.lines, outLine{dropped: 1})
		}
	default:
		q.lines = append(q.lines, outLine{b: append([]byte(nil), p...)})
		q.size += len(p)
	}
	q.mu.Unlock()
	q.poke()
	return len(p), nil
}

func (q *outQueue) poke() {
	select {
	case q.more <- struct{}{}:
	default:
	}
}

// run writes what is queued, in order, until close and an empty queue.
func (q *outQueue) run() {
	defer close(q.done)
	for {
		q.mu.Lock()
		batch, closing := q.lines, q.closing
		q.lines, q.size = nil, 0
		q.mu.Unlock()
		for _, l := range batch {
			if l.b == nil {
				l.b = fmt.Appendf(nil, "launcher: %d lines not printed here: the output was not read as fast as it came\n", l.dropped)
			}
			q.write(l.b)
		}
		if closing {
			if len(batch) == 0 {
				return
			}
			continue // what came meanwhile: the wake-up of close may be gone
		}
		<-q.more
	}
}

// write writes b unless the output broke; a failure breaks it.
func (q *outQueue) write(b []byte) {
	q.mu.Lock()
	broken := q.broken
	q.mu.Unlock()
	if broken {
		return
	}
	if _, err := q.w.Write(b); err != nil {
		q.mu.Lock()
		q.broken = true
		q.lines, q.size = nil, 0
		q.mu.Unlock()
		if q.broke != nil {
			q.broke(err)
		}
	}
}

// close waits, at most wait, for the queue to be written, and stops the
// goroutine once it is. A goroutine blocked in a write stays so until the
// process ends.
func (q *outQueue) close(wait time.Duration) {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	q.poke()
	t := time.NewTimer(max(wait, 0))
	defer t.Stop()
	select {
	case <-q.done:
	case <-t.C:
	}
}
