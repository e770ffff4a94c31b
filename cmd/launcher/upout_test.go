package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gate is a writer that blocks until opened (a reader that does not read).
type gate struct {
	open    chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
	waiting chan struct{} // closed at the first write that waits
	once    sync.Once
}

func newGate() *gate { return &gate{open: make(chan struct{}), waiting: make(chan struct{})} }

func (g *gate) Write(p []byte) (int, error) {
	g.once.Do(func() { close(g.waiting) })
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

func (g *gate) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

// Lines go out in the order printed, both outputs together, and close
// returns once they are out.
func TestOutQueueKeepsOrder(t *testing.T) {
	var buf bytes.Buffer
	q := newOutQueue(&buf, &buf)
	out, errs := q.writer(0), q.writer(1)
	var want strings.Builder
	for i := range 100 {
		w, name := out, "out"
		if i%3 == 0 {
			w, name = errs, "err"
		}
		fmt.Fprintf(w, "%s %d\n", name, i)
		fmt.Fprintf(&want, "%s %d\n", name, i)
	}
	q.close(10 * time.Second)
	if buf.String() != want.String() {
		t.Fatalf("written:\n%s\nwant:\n%s", buf.String(), want.String())
	}
}

// A reader that does not read holds up no Write: beyond the queue's room
// lines are dropped, counted, and said once the output moves again; close
// does not wait for it longer than it is told.
func TestOutQueueNeverWaitsForTheReader(t *testing.T) {
	g := newGate()
	var errs bytes.Buffer
	q := newOutQueue(g, &errs)
	q.max = 100
	w := q.writer(0)
	fmt.Fprintln(w, "first") // taken by the goroutine, which blocks on it
	select {
	case <-g.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the writing goroutine never wrote")
	}
	done := make(chan struct{})
	go func() {
		for i := range 50 {
			fmt.Fprintf(w, "line %02d\n", i) // 8 bytes each: 12 fit in 100
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Write waited for the reader")
	}
	start := time.Now()
	q.close(50 * time.Millisecond)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("close waited %v for a reader that does not read", took)
	}
	close(g.open) // the reader reads again
	<-q.done
	got := g.String()
	want := "first\n"
	for i := range 12 {
		want += fmt.Sprintf("line %02d\n", i)
	}
	want += "launcher: 38 lines not printed here: the output was not read as fast as it came\n"
	if got != want {
		t.Fatalf("written:\n%s\nwant:\n%s", got, want)
	}
}

// brokenPipe fails every write with EPIPE (its reader went away).
type brokenPipe struct{ n int }

func (b *brokenPipe) Write(p []byte) (int, error) { b.n++; return 0, syscall.EPIPE }

// A broken stdout is said on stderr once and written to no more.
func TestOutQueueBrokenOutput(t *testing.T) {
	var bp brokenPipe
	var errs bytes.Buffer
	q := newOutQueue(&bp, &errs)
	for i := range 5 {
		fmt.Fprintf(q.writer(0), "event %d\n", i)
	}
	fmt.Fprintln(q.writer(1), "launcher: a message")
	q.close(10 * time.Second)
	if bp.n != 1 {
		t.Errorf("%d writes to the broken stdout, want 1", bp.n)
	}
	want := "launcher: events are no longer printed: broken pipe\nlauncher: a message\n"
	if errs.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errs.String(), want)
	}
}
