//go:build linux

package launcher

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A daemon writes as fast as it can while its log is rotated again and
// again: every line is in the files exactly once, in order, and a Follower
// reading meanwhile gets every line exactly once, in order.
func TestRotationLosesNothing(t *testing.T) {
	t.Parallel()
	const total = 20000
	spec := testSpec(t, "chatter", "")
	spec.StartSecs = -1
	spec.LogMaxBytes, spec.LogBackups = 8<<10, 1000
	// It writes in chunks of 1000 lines (more than LogMaxBytes each) and
	// waits on its input for the next one, so that rotations happen however
	// slow the machine: a burst written before any Poll looks is one file.
	spec.InputFIFO = true
	spec.Func, spec.Command = "", []string{"sh", "-c", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do i=$((i+1)); echo "line $i"; [ $((i %% 1000)) -ne 0 ] || read x; done; exec sleep 300`, total)}
	d := newDaemon(t, spec)
	f, err := d.Follow(context.Background(), FromStart)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	next := 1
	check := func(text string) {
		if strings.Contains(text, " launcher: ") {
			return
		}
		if text != "line "+strconv.Itoa(next) {
			t.Fatalf("follower got %q, want line %d", text, next)
		}
		next++
		if (next-1)%1000 == 0 {
			if err := d.WriteInput([]byte("next\n")); err != nil {
				t.Fatalf("after line %d: %v", next-1, err)
			}
		}
	}
	clock := time.Now()
	deadline := time.After(60 * time.Second)
	for next <= total {
		clock = clock.Add(logLookMax) // every Poll may look at the size
		d.Poll(clock)
		select {
		case l := <-f.Lines():
			if l.Notice {
				t.Fatalf("notice: %s", l.Text)
			}
			check(l.Text)
		case <-deadline:
			t.Fatalf("timed out at line %d", next)
		}
	}
	// The files: backups from the oldest, then the log.
	var all strings.Builder
	n := 0
	for i := spec.LogBackups; i >= 1; i-- {
		b, err := os.ReadFile(d.LogFile() + "." + strconv.Itoa(i))
		if err == nil {
			all.Write(b)
			n++
		}
	}
	// Each chunk is more than LogMaxBytes and a Poll looks before the
	// next chunk's lines are read: at most two chunks go into one file.
	if n < total/1000/2 {
		t.Fatalf("only %d rotations happened for %d chunks", n, total/1000)
	}
	b, _ := os.ReadFile(d.LogFile())
	all.Write(b)
	want := 1
	for _, line := range strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n") {
		if strings.Contains(line, " launcher: ") {
			continue
		}
		if line != "line "+strconv.Itoa(want) {
			t.Fatalf("files: got %q, want line %d (after %d rotations)", line, want, n)
		}
		want++
	}
	if want != total+1 {
		t.Fatalf("files hold %d lines, want %d", want-1, total)
	}
	t.Logf("%d rotations", n)
}

// A log written at 1 GB a minute is rotated on time: every backup stays
// within 10% of LogMaxBytes. Looks are timed by the rate, not made per
// write, and once the writer is quiet there are none (no wake-up).
//
// Not parallel: it measures a controller keeping up with a writer, which
// the rest of the suite running beside it would starve. If the loop was
// still held up (another suite beside this one), a backup over the bound
// is reported with the delay that explains it rather than failed.
func TestRotationKeepsUp(t *testing.T) {
	spec := testSpec(t, "flood", "flood")
	spec.StartSecs = -1
	spec.LogMaxBytes, spec.LogBackups = 1<<20, 100
	spec.Data = []byte(strconv.Itoa(1 << 30 / 60)) // 1 GB/min
	d := newDaemon(t, spec)
	wake := d.Wake()
	d.ReadLog()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	// A caller's loop: Poll as soon as Wake fires.
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond) // to look for the end, not to poll
	defer tick.Stop()
	var lag time.Duration // the longest a Poll came after the deadline it was woken for
	for done := false; !done; {
		due := d.Deadline()
		select {
		case <-wake:
			now := time.Now()
			if !due.IsZero() && now.Sub(due) > lag {
				lag = now.Sub(due)
			}
			d.Poll(now)
		case <-tick.C:
			done = logEndsWith(d.LogFile(), "flood: done")
		case <-deadline:
			t.Fatal("the flood did not end")
		}
	}
	// Quiet now: after at most one more look, no wake-up.
	for settled := false; !settled; {
		select {
		case <-wake:
			d.Poll(time.Now())
		case <-time.After(2 * logLookMax):
			settled = true
		}
	}
	select {
	case <-wake:
		t.Fatal("woken while the log is quiet")
	case <-time.After(300 * time.Millisecond): // an absence can only be waited out
	}
	n := 0
	for i := 1; i <= spec.LogBackups; i++ {
		fi, err := os.Stat(d.LogFile() + "." + strconv.Itoa(i))
		if err != nil {
			break
		}
		n++
		// Under the race detector the controller runs several times
		// slower, and a look comes later: 25% then.
		tolerance := spec.LogMaxBytes / 10
		if raceEnabled {
			tolerance = spec.LogMaxBytes / 4
		}
		if d := fi.Size() - spec.LogMaxBytes; d > tolerance || -d > tolerance {
			// 1 GB/min is 17 kB/ms: a loop held up by more than a few ms
			// cannot look in time, whatever the scheme.
			if lag > 10*time.Millisecond {
				t.Logf("backup .%d is %d bytes, over the bound; the loop was held up %v at worst", i, fi.Size(), lag)
				continue
			}
			t.Errorf("backup .%d is %d bytes, not within %d of LogMaxBytes %d (longest lag %v)", i, fi.Size(), tolerance, spec.LogMaxBytes, lag)
		}
	}
	if n < 10 {
		t.Fatalf("%d rotations of a 25 MB flood", n)
	}
}

// logEndsWith reports whether the last 4 KiB of the file hold s.
func logEndsWith(path, s string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	fi, _ := f.Stat()
	b := make([]byte, 4096)
	n, _ := f.ReadAt(b, max(fi.Size()-4096, 0))
	return strings.Contains(string(b[:n]), s)
}
