package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
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

// syncBuffer is a bytes.Buffer safe to read while a queue writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines go out in the order printed, and close returns once they are out.
func TestOutQueueKeepsOrder(t *testing.T) {
	var buf bytes.Buffer
	q := newOutQueue(&buf, nil)
	var want strings.Builder
	for i := range 100 {
		fmt.Fprintf(q, "line %d\n", i)
		fmt.Fprintf(&want, "line %d\n", i)
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
	q := newOutQueue(g, nil)
	q.max = 100
	fmt.Fprintln(q, "first") // taken by the goroutine, which blocks on it
	select {
	case <-g.waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the writing goroutine never wrote")
	}
	done := make(chan struct{})
	go func() {
		for i := range 50 {
			fmt.Fprintf(q, "line %02d\n", i) // 8 bytes each: 12 fit in 100
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

// A stdout nobody reads holds up nothing on stderr: its lines come out at
// once, and close lets both go within its one wait.
func TestUpOutputsStderrNotBehindStdout(t *testing.T) {
	g := newGate()
	var errs syncBuffer
	o := newUpOutputs(g, &errs)
	fmt.Fprintln(o.out, "an event") // blocks stdout's goroutine
	<-g.waiting
	fmt.Fprintln(o.err, "launcher: stopping")
	waitUntil(t, func() bool { return errs.String() == "launcher: stopping\n" })
	fmt.Fprintln(o.err, "launcher: not every daemon ended cleanly")
	o.close(100 * time.Millisecond)
	if got := errs.String(); got != "launcher: stopping\nlauncher: not every daemon ended cleanly\n" {
		t.Errorf("stderr: %q", got)
	}
	close(g.open)
	<-o.out.done
}

// brokenPipe fails every write with EPIPE (its reader went away).
type brokenPipe struct{ n int }

func (b *brokenPipe) Write(p []byte) (int, error) { b.n++; return 0, syscall.EPIPE }

// A broken stdout is said on stderr once and written to no more.
func TestUpOutputsBrokenStdout(t *testing.T) {
	var bp brokenPipe
	var errs syncBuffer
	o := newUpOutputs(&bp, &errs)
	for i := range 5 {
		fmt.Fprintf(o.out, "event %d\n", i)
	}
	waitUntil(t, func() bool { return errs.String() != "" })
	fmt.Fprintln(o.err, "launcher: a message")
	o.close(10 * time.Second)
	if bp.n != 1 {
		t.Errorf("%d writes to the broken stdout, want 1", bp.n)
	}
	want := "launcher: events are no longer printed: broken pipe\nlauncher: a message\n"
	if errs.String() != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errs.String(), want)
	}
}

// waitUntil waits until cond holds (checked every millisecond), for at
// most 10 s.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met after 10s")
		}
		time.Sleep(time.Millisecond) // a poll interval: cond decides
	}
}

// Where stdout and stderr are one file (2>&1), one queue serves both: the
// lines keep the order they were printed in.
func TestUpOutputsOneFileOneOrder(t *testing.T) {
	f, err := os.Create(t.TempDir() + "/up.out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dup, err := os.OpenFile(f.Name(), os.O_WRONLY|os.O_APPEND, 0) // as a shell's 2>&1 of a file opened twice
	if err != nil {
		t.Fatal(err)
	}
	defer dup.Close()
	var buf syncBuffer
	for _, c := range []struct {
		what     string
		out, err io.Writer
		one      bool
	}{{"one file opened twice", f, dup, true}, {"one buffer", &buf, &buf, true}, {"two buffers", &buf, &syncBuffer{}, false}} {
		o := newUpOutputs(c.out, c.err)
		if one := o.out == o.err; one != c.one {
			t.Errorf("%s: one queue %v, want %v", c.what, one, c.one)
		}
		o.close(10 * time.Second)
	}
}
