//go:build linux

package launcher

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestFollowSmoke(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "chatty", "")
	spec.Func, spec.Command = "", []string{"sh", "-c", `i=0; while [ $i -lt 500 ]; do i=$((i+1)); echo "line $i"; done; exec sleep 300`}
	d := newDaemon(t, spec)
	f, err := d.Follow(context.Background(), FromStart)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	want := 1
	timeout := time.After(20 * time.Second)
	for want <= 500 {
		select {
		case l := <-f.Lines():
			if l.Notice || len(l.Text) > 0 && l.Text[0] != 'l' {
				continue // launcher's marker lines
			}
			if l.Text != fmt.Sprintf("line %d", want) {
				t.Fatalf("got %q, want line %d", l.Text, want)
			}
			want++
		case <-timeout:
			t.Fatalf("timed out at line %d", want)
		}
	}
}
