// upout.go is up's output: what up prints is queued without waiting and
// written by a goroutine of its own, so that a reader that stops reading
// (a pager nobody scrolls, a terminal on hold, a stuck log collector)
// never holds up the supervision, and one that goes away (a closed pipe)
// neither kills up nor stops it.

package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
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

// outQueue holds the lines of up's two outputs (stdout, stderr) in the
// order they were printed, until its goroutine writes them.
type outQueue struct {
	w    [2]io.Writer
	max  int           // bytes that may wait (outQueueMax)
	more chan struct{} // capacity 1: lines were queued, or close was asked
	done chan struct{} // closed when the goroutine ends

	mu      sync.Mutex
	lines   []outLine
	size    int
	broken  [2]error // an output whose write failed: nothing more goes to it
	closing bool
}

type outLine struct {
	to      int // 0 stdout, 1 stderr
	b       []byte
	dropped int // a note in place of the lines dropped here (b nil)
}

// newOutQueue starts the goroutine that writes to stdout and stderr. A
// write to a closed pipe then fails with EPIPE instead of killing the
// process with SIGPIPE (for the rest of the process: up ends soon after
// its queue does). The daemons do not inherit that: a signal caught is
// reset to its default by exec.
func newOutQueue(stdout, stderr io.Writer) *outQueue {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	q := &outQueue{w: [2]io.Writer{stdout, stderr}, max: outQueueMax, more: make(chan struct{}, 1), done: make(chan struct{})}
	go q.run()
	return q
}

// writer is the io.Writer of one output (0 stdout, 1 stderr): its Write
// never waits and never fails.
func (q *outQueue) writer(to int) io.Writer { return queueWriter{q, to} }

type queueWriter struct {
	q  *outQueue
	to int
}

func (w queueWriter) Write(p []byte) (int, error) {
	w.q.put(w.to, p)
	return len(p), nil
}

// put queues a copy of p for output to, or drops it when the queue is full
// (counted in a note in its place, written when the output gets there) or
// the output broken.
func (q *outQueue) put(to int, p []byte) {
	q.mu.Lock()
	switch {
	case q.broken[to] != nil:
	case q.size+len(p) > q.max:
		if n := len(q.lines); n > 0 && q.lines[n-1].b == nil && q.lines[n-1].to == to {
			q.lines[n-1].dropped++
		} else {
			q.lines = append(q.lines, outLine{to: to, dropped: 1})
		}
	default:
		q.lines = append(q.lines, outLine{to: to, b: append([]byte(nil), p...)})
		q.size += len(p)
	}
	q.mu.Unlock()
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
			q.write(l.to, l.b)
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

// write writes b to output to, unless that output broke; a failure breaks
// it, and stderr says so when stdout broke.
func (q *outQueue) write(to int, b []byte) {
	q.mu.Lock()
	broken := q.broken[to] != nil
	q.mu.Unlock()
	if broken {
		return
	}
	if _, err := q.w[to].Write(b); err != nil {
		q.mu.Lock()
		q.broken[to] = err
		q.mu.Unlock()
		if to == 0 {
			q.write(1, fmt.Appendf(nil, "launcher: events are no longer printed: %v\n", err))
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
	select {
	case q.more <- struct{}{}:
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-q.done:
	case <-t.C:
	}
}
