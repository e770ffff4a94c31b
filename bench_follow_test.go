//go:build linux

package launcher

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkFollowThroughput: lines per second through Follow from a log a
// daemon wrote as fast as it could, beside the raw read rate of the same
// file (bufio.Scanner) in the same run.
//
//	go test -run '^$' -bench Follow -benchmem -count 5 .
func BenchmarkFollowThroughput(b *testing.B) {
	const lines = 200000
	const text = "a log line of some sixty characters, like most log lines are"
	dir := b.TempDir()
	spec := Spec{Name: "writer", PIDDir: dir, LogDir: dir, StartSecs: -1,
		Command: []string{"sh", "-c", fmt.Sprintf(`yes "%s" | head -n %d; exec sleep 600`, text, lines)}}
	d, err := New(spec)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { d.ForceStop(); spinUntil(b, d, Stopped); d.Close() }()
	if err := d.Start(nil); err != nil {
		b.Fatal(err)
	}
	want := int64(lines * (len(text) + 1)) // and the start marker
	for deadline := time.Now().Add(benchDeadline); ; {
		if st, err := os.Stat(d.LogFile()); err == nil && st.Size() >= want {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the writer did not finish")
		}
		time.Sleep(time.Millisecond)
	}
	b.Run("follow", func(b *testing.B) {
		for b.Loop() {
			f, err := d.Follow(context.Background(), FromStart)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for n < lines {
				if l := <-f.Lines(); !l.Notice {
					n++
				}
			}
			f.Close()
		}
		b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	})
	b.Run("raw", func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(d.LogFile())
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			n := 0
			for n < lines && sc.Scan() {
				n++
			}
			f.Close()
		}
		b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	})
}

// BenchmarkFollowDelay: the time from a line's write until Follow delivers
// it, median and p90 over the ops.
func BenchmarkFollowDelay(b *testing.B) {
	dir := b.TempDir()
	spec := Spec{Name: "quiet", PIDDir: dir, LogDir: dir, Command: []string{"true"}}
	d, err := New(spec)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	log, err := os.OpenFile(d.LogFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	f, err := d.Follow(context.Background(), FromEnd)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var delays []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		log.WriteString("line " + strconv.Itoa(i) + "\n")
		for l := range f.Lines() {
			if l.Text == "line "+strconv.Itoa(i) {
				break
			}
		}
		delays = append(delays, time.Since(start))
	}
	slices.Sort(delays)
	b.ReportMetric(float64(delays[len(delays)/2].Nanoseconds()), "ns/delay-p50")
	b.ReportMetric(float64(delays[len(delays)*9/10].Nanoseconds()), "ns/delay-p90")
}
