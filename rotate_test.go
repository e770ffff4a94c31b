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
	spec.Func, spec.Command = "", []string{"sh", "-c", fmt.Sprintf(`i=0; while [ $i -lt %d ]; do i=$((i+1)); echo "line $i"; done; exec sleep 300`, total)}
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
	}
	clock := time.Now()
	deadline := time.After(60 * time.Second)
	for next <= total {
		clock = clock.Add(logCheckEvery) // every Poll looks at the size
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
	if n < 2 {
		t.Fatalf("only %d rotations happened", n) // a test of rotation needs some
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
