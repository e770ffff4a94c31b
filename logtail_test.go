//go:build linux

package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers for Follow tests. None of them sleeps to synchronise: every wait
// is for a condition (a line delivered, a file grown, a channel closed),
// bounded by a deadline.

// followDeadline is when a Follow test gives up waiting: 20s, or less when
// the test binary's own deadline is nearer.
func followDeadline(t *testing.T) time.Time {
	deadline := time.Now().Add(20 * time.Second)
	if dl, ok := t.Deadline(); ok && dl.Before(deadline) {
		deadline = dl.Add(-time.Second)
	}
	return deadline
}

// lineWaiter reads a Follower's lines in the test's goroutine.
type lineWaiter struct {
	t      *testing.T
	f      *Follower
	got    []Line
	onLine func(Line) // checks each line as it comes (may fail the test)
}

// watchLines takes the result of a Follow call, fails the test on an
// error, and closes the Follower when the test ends.
func watchLines(t *testing.T, f *Follower, err error) *lineWaiter {
	t.Helper()
	if err != nil {
		t.Fatalf("Follow: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return &lineWaiter{t: t, f: f}
}

// until reads lines until cond holds, failing at the deadline or when the
// channel closes first.
func (w *lineWaiter) until(what string, cond func() bool) {
	w.t.Helper()
	timer := time.NewTimer(time.Until(followDeadline(w.t)))
	defer timer.Stop()
	for !cond() {
		select {
		case l, ok := <-w.f.Lines():
			if !ok {
				w.t.Fatalf("Lines closed while waiting for %s; got %s", what, w.describe())
			}
			w.got = append(w.got, l)
			if w.onLine != nil {
				w.onLine(l)
			}
		case <-timer.C:
			w.t.Fatalf("timed out waiting for %s; got %s", what, w.describe())
		}
	}
}

// next returns the next line.
func (w *lineWaiter) next(what string) Line {
	w.t.Helper()
	n := len(w.got)
	w.until(what, func() bool { return len(w.got) > n })
	return w.got[n]
}

// untilText reads until a line (of daemon name, if given) with exactly
// this text has come.
func (w *lineWaiter) untilText(name, text string) {
	w.t.Helper()
	n := len(w.got)
	w.until(strconv.Quote(text), func() bool {
		for ; n < len(w.got); n++ {
			if l := w.got[n]; !l.Notice && l.Text == text && (name == "" || l.Daemon == name) {
				n++
				return true
			}
		}
		return false
	})
}

// describe summarises the last lines seen, for failure messages.
func (w *lineWaiter) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d lines", len(w.got))
	for _, l := range w.got[max(len(w.got)-12, 0):] {
		text := l.Text
		if len(text) > 60 {
			text = text[:60] + fmt.Sprintf("...(%d bytes)", len(l.Text))
		}
		fmt.Fprintf(&b, "\n\t%s %q partial=%v notice=%v", l.Daemon, text, l.Partial, l.Notice)
	}
	return b.String()
}

// texts returns the texts of the lines seen from index i on, without
// notices.
func (w *lineWaiter) texts(i int) []string {
	var out []string
	for _, l := range w.got[i:] {
		if !l.Notice {
			out = append(out, l.Text)
		}
	}
	return out
}

// notices returns the notices seen.
func (w *lineWaiter) notices() []string {
	var out []string
	for _, l := range w.got {
		if l.Notice {
			out = append(out, l.Text)
		}
	}
	return out
}

// fromLauncher: a line launcher itself wrote (a Notice, or a marker line
// the controller appends to the log on start and stop).
func fromLauncher(l Line) bool { return l.Notice || strings.Contains(l.Text, " launcher: ") }

// lineNumber parses "<prefix> N".
func lineNumber(text, prefix string) (int, bool) {
	s, ok := strings.CutPrefix(text, prefix+" ")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// inOrder returns an onLine check that every "line N" comes once, in
// order, with nothing missing.
func inOrder(t *testing.T, last *int) func(Line) {
	return func(l Line) {
		if fromLauncher(l) {
			return
		}
		n, ok := lineNumber(l.Text, "line")
		if !ok {
			t.Fatalf("unexpected line %q", l.Text)
		}
		if n != *last+1 {
			t.Fatalf("got line %d after line %d (a duplicate, a loss or a reordering)", n, *last)
		}
		*last = n
	}
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// idleDaemon is a Daemon that is never started: the tests write its log
// themselves.
func idleDaemon(t *testing.T, name string) *Daemon {
	return newDaemon(t, testSpec(t, name, "sleep"))
}

// settler follows three logs in one directory: a sentinel "before", the
// log under test "x", and a sentinel "after", in that order. A Follower
// looks at its logs in that order each time it looks, one look after the
// other. So once a line written to "before" after some data was written
// to x has come, the look that read it has read x past that data, after
// the line; and once a line written to "after" next has come, so have the
// lines of x that look delivered (it was read in that look, after x, or in
// a later one). That lets a test say "nothing came" without a timeout.
// (A single sentinel would not do: one read of it may take in the line
// written after the one just delivered, before x is looked at.)
type settler struct {
	*lineWaiter
	log, before, after string
	n                  int
}

func settlerPaths(t *testing.T) (s *settler, targets []followTarget) {
	dir := t.TempDir()
	s = &settler{log: filepath.Join(dir, "x.log"), before: filepath.Join(dir, "before.log"), after: filepath.Join(dir, "after.log")}
	return s, []followTarget{{"before", s.before}, {"x", s.log}, {"after", s.after}}
}

func newSettler(t *testing.T, from From) *settler {
	s, targets := settlerPaths(t)
	f, err := follow(context.Background(), targets, from)
	s.lineWaiter = watchLines(t, f, err)
	return s
}

// settle returns what came from x until the Follower has read x past
// everything written to it before the call, and delivered the lines. Each
// call takes a look of its own, later than the last call's.
func (s *settler) settle() []Line {
	s.t.Helper()
	start := len(s.got)
	s.n++
	appendFile(s.t, s.before, fmt.Sprintf("b%d\n", s.n))
	s.untilText("before", fmt.Sprintf("b%d", s.n))
	appendFile(s.t, s.after, fmt.Sprintf("a%d\n", s.n))
	s.untilText("after", fmt.Sprintf("a%d", s.n))
	var out []Line
	for _, l := range s.got[start:] {
		if l.Daemon == "x" {
			out = append(out, l)
		}
	}
	return out
}

// TestFollowSmoke: a daemon's output, from the start, in order.
func TestFollowSmoke(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "chatty", "")
	spec.Func, spec.Command = "", []string{"sh", "-c", `i=0; while [ $i -lt 500 ]; do i=$((i+1)); echo "line $i"; done; exec sleep 300`}
	d := newDaemon(t, spec)
	f, err := d.Follow(context.Background(), FromStart)
	w := watchLines(t, f, err)
	last := 0
	w.onLine = inOrder(t, &last)
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	w.until("line 500", func() bool { return last == 500 })
}

// TestFollowFrom: where Follow starts.
func TestFollowFrom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		content  string // in the log before Follow
		from     From
		appended string   // written after Follow
		want     []string // every line delivered, in order
	}{
		{"start", "a\nb\nc\nd\ne\n", FromStart, "f\n", []string{"a", "b", "c", "d", "e", "f"}},
		{"start/empty", "", FromStart, "f\n", []string{"f"}},
		{"end", "a\nb\nc\n", FromEnd, "new\n", []string{"new"}},
		{"end/partial", "a\nb", FromEnd, "c\nd\n", []string{"c", "d"}},
		{"last3", "a\nb\nc\nd\ne\n", LastLines(3), "f\n", []string{"c", "d", "e", "f"}},
		// Without a trailing newline the unfinished "e" counts as one of
		// the three (as with tail -n 3); it comes once its newline does.
		{"last3/no-newline", "a\nb\nc\nd\ne", LastLines(3), "\nf\n", []string{"c", "d", "e", "f"}},
		{"last3/fewer", "x\ny\n", LastLines(3), "z\n", []string{"x", "y", "z"}},
		{"last3/one-unfinished", "x", LastLines(3), "y\n", []string{"xy"}},
		{"last3/empty", "", LastLines(3), "z\n", []string{"z"}},
		{"last3/blank-lines", "a\n\n\n\n", LastLines(3), "z\n", []string{"", "", "", "z"}},
		{"last0", "a\nb\n", LastLines(0), "z\n", []string{"z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := idleDaemon(t, "from")
			if err := os.WriteFile(d.LogFile(), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := d.Follow(context.Background(), tc.from)
			w := watchLines(t, f, err)
			// Follow has positioned the log by now: what is appended is
			// new whatever the Follower has read so far.
			appendFile(t, d.LogFile(), tc.appended)
			want := tc.want[len(tc.want)-1]
			w.untilText("from", want)
			if got := w.texts(0); !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for _, l := range w.got {
				if l.Daemon != "from" || l.Partial || l.Notice {
					t.Fatalf("line %+v", l)
				}
			}
		})
	}
}

// TestFollowPartialLineWaits: an unfinished last line is held back until
// its newline is written, and then comes whole.
func TestFollowPartialLineWaits(t *testing.T) {
	t.Parallel()
	s := newSettler(t, FromStart)
	appendFile(t, s.log, "abc")
	if got := s.settle(); len(got) != 0 {
		t.Fatalf("before the newline, got %+v", got)
	}
	appendFile(t, s.log, "def")
	if got := s.settle(); len(got) != 0 {
		t.Fatalf("before the newline, got %+v", got)
	}
	appendFile(t, s.log, "\nghi")
	got := s.settle()
	if len(got) != 1 || got[0].Text != "abcdef" || got[0].Partial || got[0].Notice {
		t.Fatalf("after the newline, got %+v, want one line \"abcdef\"", got)
	}
	appendFile(t, s.log, "\n")
	if got := s.settle(); len(got) != 1 || got[0].Text != "ghi" {
		t.Fatalf("got %+v, want one line \"ghi\"", got)
	}
}

// binaryLine returns n bytes cycling through every byte value but '\n'.
func binaryLine(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		c := byte(i*7 + i/255)
		if c == '\n' {
			c = 0xff
		}
		b[i] = c
	}
	return b
}

// TestFollowHugeLine: a line longer than MaxLineBytes comes in pieces of
// MaxLineBytes marked Partial, as soon as each piece is there, and a last
// piece not marked Partial once the newline is written; together they are
// the line, bytes unchanged.
func TestFollowHugeLine(t *testing.T) {
	t.Parallel()
	d := idleDaemon(t, "huge")
	f, err := d.Follow(context.Background(), FromStart)
	w := watchLines(t, f, err)
	line := binaryLine(200 << 10)
	appendFile(t, d.LogFile(), string(line))
	full := len(line) / MaxLineBytes // 3
	w.until(fmt.Sprintf("%d Partial pieces", full), func() bool { return len(w.got) >= full })
	appendFile(t, d.LogFile(), "\nnext\n")
	w.untilText("huge", "next")
	if len(w.got) != full+2 {
		t.Fatalf("got %s, want %d pieces and \"next\"", w.describe(), full+1)
	}
	var joined []byte
	for i, l := range w.got[:full+1] {
		if l.Notice || l.Daemon != "huge" {
			t.Fatalf("piece %d: %+v", i, l)
		}
		if last := i == full; l.Partial == last {
			t.Fatalf("piece %d of %d: Partial = %v", i, full+1, l.Partial)
		}
		if i < full && len(l.Text) != MaxLineBytes {
			t.Fatalf("piece %d: %d bytes, want MaxLineBytes (%d)", i, len(l.Text), MaxLineBytes)
		}
		joined = append(joined, l.Text...)
	}
	if !bytes.Equal(joined, line) {
		t.Fatalf("pieces joined: %d bytes, differ from the %d written", len(joined), len(line))
	}
	if w.got[full+1].Partial {
		t.Fatal("the line after the huge one is marked Partial")
	}
}

// TestFollowBinary: bytes other than '\n' come through as they are,
// including NUL, CR, escapes and invalid UTF-8.
func TestFollowBinary(t *testing.T) {
	t.Parallel()
	d := idleDaemon(t, "bin")
	f, err := d.Follow(context.Background(), FromStart)
	w := watchLines(t, f, err)
	var want []string
	var all bytes.Buffer
	for c := 0; c < 256; c++ {
		if c != '\n' {
			all.WriteByte(byte(c))
		}
	}
	want = append(want, all.String(), "\x00", "\r", "\xff\xfe", "\x1b[31mred\x1b[0m\r", "")
	appendFile(t, d.LogFile(), strings.Join(want, "\n")+"\nend\n")
	want = append(want, "end")
	w.untilText("bin", "end")
	if got := w.texts(0); !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

// TestFollowMaxLineBytesLineWhole: "MaxLineBytes is the longest line
// Follow delivers whole" holds however the line's bytes arrive: a line of
// exactly MaxLineBytes whose newline comes after the Follower has read the
// rest is one Line, not a Partial one and an empty one.
func TestFollowMaxLineBytesLineWhole(t *testing.T) {
	t.Parallel()
	s := newSettler(t, FromStart)
	line := strings.Repeat("m", MaxLineBytes)
	appendFile(t, s.log, line)
	got := s.settle()
	appendFile(t, s.log, "\n")
	got = append(got, s.settle()...)
	if len(got) != 1 || got[0].Text != line || got[0].Partial {
		t.Fatalf("a line of MaxLineBytes written, then its newline: got %v, want one whole line", pieces(got))
	}
	// One byte more is a Partial piece and a one-byte last piece.
	appendFile(t, s.log, line+"m")
	got = s.settle()
	appendFile(t, s.log, "\n")
	got = append(got, s.settle()...)
	if len(got) != 2 || got[0].Text != line || !got[0].Partial || got[1].Text != "m" || got[1].Partial {
		t.Fatalf("a line of MaxLineBytes+1: got %v", pieces(got))
	}
}

// pieces describes lines by length, for long ones.
func pieces(ls []Line) []string {
	var desc []string
	for _, l := range ls {
		desc = append(desc, fmt.Sprintf("{%d bytes, Partial %v, Notice %v}", len(l.Text), l.Partial, l.Notice))
	}
	return desc
}

// batchWriter is a real daemon that appends "line N" to its log by path
// (">> $LOG", so that after a rename or delete the next write makes a new
// file), in batches: it writes a batch when the test writes the batch's
// size to its fifo.
type batchWriter struct {
	t       *testing.T
	d       *Daemon
	fifo    string
	log     string
	written int
}

func newBatchWriter(t *testing.T, name string) *batchWriter {
	t.Helper()
	spec := testSpec(t, name, "")
	fifo := filepath.Join(t.TempDir(), "batches")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(spec.LogDir, name+".log")
	spec.Func, spec.Command = "", []string{"sh", "-c", `n=0
while :; do
	read b <"$FIFO" || continue # EOF: opened while the last writer was closing
	i=0
	while [ $i -lt "$b" ]; do i=$((i+1)); n=$((n+1)); echo "line $n" >>"$LOG"; done
done`}
	spec.Env = []string{"FIFO=" + fifo, "LOG=" + log}
	d := newDaemon(t, spec)
	if d.LogFile() != log {
		t.Fatalf("log %s, want %s", d.LogFile(), log)
	}
	return &batchWriter{t: t, d: d, fifo: fifo, log: log}
}

// batch asks the daemon for n more lines. The daemon reads its fifo only
// between batches, and the test asks for a batch only once the last one
// has been delivered, so nothing sent is lost in a fifo being closed. (The
// daemon may open the fifo again before the test has closed its end after
// the last batch: it reads EOF then, and opens it again.)
func (b *batchWriter) batch(n int) {
	b.t.Helper()
	var f *os.File
	waitFor(b.t, "the daemon to open its fifo", func() bool {
		var err error
		f, err = os.OpenFile(b.fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil && !errors.Is(err, syscall.ENXIO) { // ENXIO: no reader yet
			b.t.Fatal(err)
		}
		return err == nil
	}, b.describe)
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%d\n", n); err != nil {
		b.t.Fatal(err)
	}
	b.written += n
}

// shiftBackups rotates log the way logrotate does by default: <log>.N
// becomes <log>.N+1, ..., <log>.1 becomes <log>.2, and log <log>.1.
func shiftBackups(t *testing.T, log string) {
	t.Helper()
	n := 1
	for {
		if _, err := os.Lstat(fmt.Sprintf("%s.%d", log, n)); err != nil {
			break
		}
		n++
	}
	for i := n - 1; i >= 1; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", log, i), fmt.Sprintf("%s.%d", log, i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
}

// describe says what the daemon is doing, for failure messages.
func (b *batchWriter) describe() string {
	pid := b.d.PID()
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	wchan, _ := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
	log, _ := os.ReadFile(b.log)
	return fmt.Sprintf("daemon pid %d, stat %q, wchan %q; %d lines asked for; log ends %q",
		pid, bytes.TrimSpace(stat), wchan, b.written, log[max(len(log)-100, 0):])
}

// TestFollowRotation: a real daemon writes batches of lines while the log
// is truncated, renamed away and deleted between batches; every line comes
// exactly once, in order.
func TestFollowRotation(t *testing.T) {
	t.Parallel()
	bw := newBatchWriter(t, "rotor")
	f, err := bw.d.Follow(context.Background(), FromStart)
	w := watchLines(t, f, err)
	last := 0
	w.onLine = inOrder(t, &last)
	if err := bw.d.Start(nil); err != nil {
		t.Fatal(err)
	}
	delivered := func(what string) {
		t.Helper()
		w.until(what, func() bool { return last == bw.written })
	}
	for round := range 2 {
		bw.batch(300)
		delivered(fmt.Sprintf("round %d, first batch", round))

		// Truncation is seen as the file getting shorter than what was
		// read. A Follower that looks only after the file has grown back
		// past that cannot tell, so the batch after the truncation is
		// shorter than the file was.
		if err := os.Truncate(bw.log, 0); err != nil {
			t.Fatal(err)
		}
		bw.batch(50)
		delivered(fmt.Sprintf("round %d, after truncation", round))

		// Rotated as logrotate does: older backups move up one, the log
		// becomes <log>.1.
		shiftBackups(t, bw.log)
		bw.batch(100)
		delivered(fmt.Sprintf("round %d, after rename", round))

		if err := os.Remove(bw.log); err != nil {
			t.Fatal(err)
		}
		bw.batch(100)
		delivered(fmt.Sprintf("round %d, after delete", round))
	}
	for _, l := range w.got {
		if l.Partial || l.Daemon != "rotor" {
			t.Fatalf("line %+v", l)
		}
	}
	if n := len(w.notices()); n != 0 {
		t.Fatalf("notices: %q", w.notices())
	}
}

// TestFollowRenameWhileBlocked: the log is renamed to <log>.1 while the
// Follower is in the middle of it, waiting for a slow reader: the renamed
// file is still read once, to its end, then the new log.
func TestFollowRenameWhileBlocked(t *testing.T) {
	t.Parallel()
	for _, dest := range []string{".1", ".old"} {
		t.Run(strings.TrimPrefix(dest, "."), func(t *testing.T) {
			t.Parallel()
			d := idleDaemon(t, "slow")
			log := d.LogFile()
			var b strings.Builder
			for i := 1; i <= 2000; i++ {
				fmt.Fprintf(&b, "line %d\n", i)
			}
			appendFile(t, log, b.String())
			f, err := d.Follow(context.Background(), FromStart)
			w := watchLines(t, f, err)
			waitFor(t, "the channel to fill", func() bool { return len(f.Lines()) == cap(f.Lines()) },
				func() string { return fmt.Sprintf("%d of %d", len(f.Lines()), cap(f.Lines())) })
			if err := os.Rename(log, log+dest); err != nil {
				t.Fatal(err)
			}
			b.Reset()
			for i := 2001; i <= 2100; i++ {
				fmt.Fprintf(&b, "line %d\n", i)
			}
			appendFile(t, log, b.String())
			last := 0
			w.onLine = inOrder(t, &last)
			w.until("line 2100", func() bool { return last == 2100 })
			// Let the Follower look again: nothing more may come.
			appendFile(t, log, "line 2101\n")
			w.until("line 2101", func() bool { return last == 2101 })
		})
	}
}

// TestFollowContinuousRename: a daemon writes without pause while the log
// is rotated by rename again and again (logrotate's way: <log>.1 moves to
// <log>.2 and so on, the log becomes <log>.1). Lines come in order and
// never twice. A generation of the log that was created and renamed away
// between two looks of the Follower can be missed whole; a file the
// Follower has seen is always read to its end, so a loss within a file is
// a failure. The test logs how many lines were lost.
func TestFollowContinuousRename(t *testing.T) {
	t.Parallel()
	const renames = 8
	spec := testSpec(t, "stream", "")
	log := filepath.Join(spec.LogDir, "stream.log")
	stop := filepath.Join(t.TempDir(), "stop")
	spec.Func, spec.Command = "", []string{"sh", "-c",
		`n=0; while [ ! -e "$STOP" ]; do n=$((n+1)); echo "line $n" >>"$LOG"; done; echo "end $n" >>"$LOG"; exec sleep 300`}
	spec.Env = []string{"STOP=" + stop, "LOG=" + log}
	d := newDaemon(t, spec)
	f, err := d.Follow(context.Background(), FromStart)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })

	// The lines are read in a goroutine of their own, so that the renames
	// do not wait on the reader and the reader does not wait on them.
	var (
		mu       sync.Mutex
		got      []int
		bad      []string
		end      = -1
		collDone = make(chan struct{})
	)
	go func() {
		defer close(collDone)
		for l := range f.Lines() {
			if fromLauncher(l) {
				continue
			}
			mu.Lock()
			if n, ok := lineNumber(l.Text, "line"); ok && !l.Partial && l.Daemon == "stream" {
				got = append(got, n)
			} else if n, ok := lineNumber(l.Text, "end"); ok {
				end = n
			} else {
				bad = append(bad, fmt.Sprintf("%+v", l))
			}
			stopNow := end >= 0
			mu.Unlock()
			if stopNow {
				return
			}
		}
	}()

	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= renames; k++ {
		// Let the writer put some lines in this generation (the writer's
		// progress, not the Follower's).
		waitFor(t, fmt.Sprintf("generation %d to grow", k), func() bool {
			st, err := os.Stat(log)
			return err == nil && st.Size() >= 300
		}, func() string { return "log too short" })
		shiftBackups(t, log) // generation k is <log>.1 now
	}
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-collDone:
	case <-time.After(time.Until(followDeadline(t))):
		f.Close() // closes Lines: the collector returns
		<-collDone
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("timed out waiting for the end line; got %d lines, last %v", len(got), got[max(len(got)-5, 0):])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("unexpected lines: %v", bad)
	}
	if end < 0 {
		t.Fatal("Lines closed before the end line")
	}

	// Where each line was written: generation k (1-based) is
	// <log>.(renames+1-k) now, the last one the log itself.
	fileOf := make([]int, end+1) // line number -> generation
	for k := 1; k <= renames+1; k++ {
		p := fmt.Sprintf("%s.%d", log, renames+1-k)
		if k == renames+1 {
			p = log
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range strings.Split(string(b), "\n") {
			if n, ok := lineNumber(s, "line"); ok {
				if n < 1 || n > end || fileOf[n] != 0 {
					t.Fatalf("the writer wrote line %d twice or out of range (end %d)", n, end)
				}
				fileOf[n] = k
			}
		}
	}
	for n := 1; n <= end; n++ {
		if fileOf[n] == 0 {
			t.Fatalf("line %d is in no file", n)
		}
	}

	// In order, never twice.
	for i := 1; i < len(got); i++ {
		if got[i] <= got[i-1] {
			t.Fatalf("line %d came after line %d", got[i], got[i-1])
		}
	}
	// Losses only as whole generations.
	deliveredIn := make([]int, renames+2)
	totalIn := make([]int, renames+2)
	for n := 1; n <= end; n++ {
		totalIn[fileOf[n]]++
	}
	for _, n := range got {
		if n < 1 || n > end {
			t.Fatalf("line %d out of range (end %d)", n, end)
		}
		deliveredIn[fileOf[n]]++
	}
	lost, lostFiles := 0, 0
	for k := 1; k <= renames+1; k++ {
		switch {
		case deliveredIn[k] == totalIn[k]:
		case deliveredIn[k] == 0:
			lost += totalIn[k]
			lostFiles++
		default:
			t.Errorf("generation %d: %d of its %d lines delivered: a loss within a file", k, deliveredIn[k], totalIn[k])
		}
	}
	t.Logf("continuous writer: %d lines in %d generations (%d renames); delivered %d; lost %d (%d whole generations never seen)",
		end, renames+1, renames, len(got), lost, lostFiles)
}

// TestFollowManager: one Follower for all of a Manager's daemons, each
// line tagged with the daemon that wrote it.
func TestFollowManager(t *testing.T) {
	t.Parallel()
	m := newManager(t, Options{})
	names := []string{"alpha", "beta"}
	for _, name := range names {
		script := fmt.Sprintf(`i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo "%s $i"; done; exec sleep 300`, name)
		if err := m.Add(Spec{Name: name, Command: []string{"sh", "-c", script}, StartSecs: 30 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := m.Follow(context.Background(), FromStart)
	w := watchLines(t, f, err)
	last := map[string]int{}
	w.onLine = func(l Line) {
		if fromLauncher(l) {
			if l.Notice {
				t.Fatalf("notice %q", l.Text)
			}
			return
		}
		name, _, _ := strings.Cut(l.Text, " ")
		if name != l.Daemon {
			t.Fatalf("line %q tagged %q", l.Text, l.Daemon)
		}
		n, ok := lineNumber(l.Text, name)
		if !ok || n != last[name]+1 {
			t.Fatalf("%s: got %q after %d", name, l.Text, last[name])
		}
		last[name] = n
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	w.until("300 lines of each", func() bool { return last["alpha"] == 300 && last["beta"] == 300 })
	for _, l := range w.got {
		if l.Daemon != "alpha" && l.Daemon != "beta" {
			t.Fatalf("line %+v", l)
		}
	}
}

// closeWithin calls Close and fails if it does not return.
func closeWithin(t *testing.T, f *Follower) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(time.Until(followDeadline(t))):
		t.Fatal("Close did not return")
	}
}

// drainClosed reads Lines until it is closed and returns how many lines
// were still on it; it fails if the channel stays open.
func drainClosed(t *testing.T, f *Follower) int {
	t.Helper()
	timer := time.NewTimer(time.Until(followDeadline(t)))
	defer timer.Stop()
	n := 0
	for {
		select {
		case _, ok := <-f.Lines():
			if !ok {
				return n
			}
			n++
		case <-timer.C:
			t.Fatalf("Lines not closed after %d lines", n)
		}
	}
}

// TestFollowStops: Close and a cancelled context stop the Follower and
// close its channel, whether or not anyone reads it. TestMain checks for
// leftover goroutines and fds after the suite.
func TestFollowStops(t *testing.T) {
	t.Parallel()
	t.Run("close", func(t *testing.T) {
		t.Parallel()
		d := idleDaemon(t, "stop")
		appendFile(t, d.LogFile(), "a\n")
		f, err := d.Follow(context.Background(), FromStart)
		w := watchLines(t, f, err)
		w.untilText("stop", "a")
		closeWithin(t, f)
		if n := drainClosed(t, f); n != 0 {
			t.Fatalf("%d lines after Close", n)
		}
		closeWithin(t, f) // again: a no-op
	})
	t.Run("cancel", func(t *testing.T) {
		t.Parallel()
		d := idleDaemon(t, "stop")
		appendFile(t, d.LogFile(), "a\n")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f, err := d.Follow(ctx, FromStart)
		w := watchLines(t, f, err)
		w.untilText("stop", "a")
		cancel()
		drainClosed(t, f)
		closeWithin(t, f) // Close after the context ended returns too
	})
	t.Run("cancelled-before", func(t *testing.T) {
		t.Parallel()
		d := idleDaemon(t, "stop")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		f, err := d.Follow(ctx, FromStart)
		watchLines(t, f, err)
		drainClosed(t, f)
	})
	t.Run("never-read", func(t *testing.T) {
		t.Parallel()
		d := idleDaemon(t, "stop")
		appendFile(t, d.LogFile(), strings.Repeat("x\n", 2000))
		f, err := d.Follow(context.Background(), FromStart)
		watchLines(t, f, err)
		// The channel fills up and the Follower waits to send.
		waitFor(t, "the channel to fill", func() bool { return len(f.Lines()) == cap(f.Lines()) },
			func() string { return fmt.Sprintf("%d of %d", len(f.Lines()), cap(f.Lines())) })
		closeWithin(t, f)
		if n := drainClosed(t, f); n > cap(f.Lines()) {
			t.Fatalf("%d lines after Close", n)
		}
	})
	t.Run("never-read-cancel", func(t *testing.T) {
		t.Parallel()
		d := idleDaemon(t, "stop")
		appendFile(t, d.LogFile(), strings.Repeat("x\n", 2000))
		ctx, cancel := context.WithCancel(context.Background())
		f, err := d.Follow(ctx, FromStart)
		watchLines(t, f, err)
		waitFor(t, "the channel to fill", func() bool { return len(f.Lines()) == cap(f.Lines()) },
			func() string { return fmt.Sprintf("%d of %d", len(f.Lines()), cap(f.Lines())) })
		cancel()
		drainClosed(t, f)
	})
}

// TestFollowPollingFallback: where fsnotify cannot watch (here: the log
// dir does not exist yet, so adding the watch fails), the Follower says so
// once, first, and polls: lines written once the dir and log exist come.
func TestFollowPollingFallback(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "poller", "")
	spec.Func, spec.Command = "", []string{"sh", "-c", `i=0; while [ $i -lt 100 ]; do i=$((i+1)); echo "line $i"; done; exec sleep 300`}
	d := newDaemon(t, spec) // New makes the log dir: take it away again
	if err := os.RemoveAll(spec.LogDir); err != nil {
		t.Fatal(err)
	}
	f, err := d.Follow(context.Background(), FromStart)
	w := watchLines(t, f, err)
	if l := w.next("the polling notice"); !l.Notice || !strings.Contains(l.Text, "polling") {
		t.Fatalf("first line %+v, want a notice about polling", l)
	}
	if err := os.Mkdir(spec.LogDir, 0o755); err != nil {
		t.Fatal(err)
	}
	last := 0
	w.onLine = inOrder(t, &last)
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	w.until("line 100", func() bool { return last == 100 })
	if n := w.notices(); len(n) != 1 {
		t.Fatalf("notices %q, want one", n)
	}
}

// TestFollowNotRegular: a log path that is a directory or a fifo gives one
// notice, does not hang Follow or the Follower, and a regular log put there
// later is followed.
func TestFollowNotRegular(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"dir", "fifo"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			s, targets := settlerPaths(t)
			var err error
			if kind == "dir" {
				err = os.Mkdir(s.log, 0o755)
			} else {
				err = syscall.Mkfifo(s.log, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			type result struct {
				f   *Follower
				err error
			}
			res := make(chan result, 1)
			go func() {
				f, err := follow(context.Background(), targets, FromStart)
				res <- result{f, err}
			}()
			var r result
			select {
			case r = <-res:
			case <-time.After(5 * time.Second):
				t.Errorf("Follow has not returned after 5s: it hangs on the %s", kind)
				if kind == "fifo" {
					// Open the other end to let it go, so that the test
					// can end cleanly.
					if w, err := os.OpenFile(s.log, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
						defer w.Close()
					}
				}
				r = <-res
			}
			s.lineWaiter = watchLines(t, r.f, r.err)
			// Three looks at it, at least.
			for range 3 {
				s.settle()
			}
			n := s.notices()
			if len(n) != 1 || !strings.Contains(n[0], "not a regular file") {
				t.Fatalf("notices %q, want one saying not a regular file", n)
			}
			for _, l := range s.got {
				if l.Notice && l.Daemon != "x" {
					t.Fatalf("notice not tagged with its log: %+v", l)
				}
			}
			// Replace it with a regular file: followed from its start.
			if err := os.Remove(s.log); err != nil {
				t.Fatal(err)
			}
			appendFile(t, s.log, "regular\n")
			s.untilText("x", "regular")
		})
	}
}

// TestFollowLogDirRemoved: the log dir disappears while a daemon's log is
// followed; once it is made again and the daemon writes a new log, its
// lines come.
func TestFollowLogDirRemoved(t *testing.T) {
	t.Parallel()
	bw := newBatchWriter(t, "gone")
	f, err := bw.d.Follow(context.Background(), FromStart)
	w := watchLines(t, f, err)
	last := 0
	w.onLine = inOrder(t, &last)
	if err := bw.d.Start(nil); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(bw.log)
	for round := range 2 {
		bw.batch(20)
		w.until(fmt.Sprintf("round %d, batch before removal", round), func() bool { return last == bw.written })
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		bw.batch(20)
		w.until(fmt.Sprintf("round %d, batch into the new dir", round), func() bool { return last == bw.written })
	}
}
