// proc_test.go checks the parsing of /proc/<pid>/stat (proc.go).

package launcher

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// statLine builds a /proc/<pid>/stat line with the given command name (with
// its parentheses), state, pgrp and start time, and the other fields as a
// real one has them (52 fields).
func statLine(comm, state string, pgrp int, start string) string {
	return "1234 " + comm + " " + state + " 1 " + strconv.Itoa(pgrp) + " " + strconv.Itoa(pgrp) +
		" 34817 -1 4194560 97 0 0 0 3 1 0 0 20 0 1 0 " + start +
		" 3133440 377 18446744073709551615 94854151811072 94854151830953 140728225705504" +
		" 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94854151846960 94854151848576 94854497447936" +
		" 140728225708535 140728225708555 140728225708555 140728225710059 0\n"
}

var goodStats = []struct {
	name, in string
	want     procStat
}{
	{"real cat", "12396 (cat) R 12392 12392 11279 0 -1 4194304 97 0 0 0 0 0 0 0 20 0 1 0 152229 3133440 377 " +
		"18446744073709551615 94854151811072 94854151830953 140728225705504 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 " +
		"94854151846960 94854151848576 94854497447936 140728225708535 140728225708555 140728225708555 " +
		"140728225710059 0\n", procStat{state: 'R', pgrp: 12392, session: 11279, flags: 4194304, startTicks: 152229}},
	{"plain", statLine("(sleep)", "S", 4321, "98765"), procStat{state: 'S', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"spaces in name", statLine("(my  daemon x)", "S", 4321, "98765"), procStat{state: 'S', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"parens in name", statLine("(a) b) c)", "S", 4321, "98765"), procStat{state: 'S', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"fake fields in name", statLine("(x) R 9 9 9)", "D", 4321, "98765"), procStat{state: 'D', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"open paren in name", statLine("((()", "T", 4321, "98765"), procStat{state: 'T', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"empty name", statLine("()", "Z", 7, "1"), procStat{state: 'Z', pgrp: 7, session: 7, flags: 4194560, startTicks: 1}},
	{"newline in name", statLine("(a\nb)", "S", 4321, "98765"), procStat{state: 'S', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"max start time", statLine("(x)", "I", 4321, "18446744073709551615"), procStat{state: 'I', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 1<<64 - 1}},
	{"no trailing newline", strings.TrimSuffix(statLine("(x)", "S", 4321, "98765"), "\n"), procStat{state: 'S', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"just 22 fields", "1234 (x) S 1 4321 4321 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 98765", procStat{state: 'S', pgrp: 4321, session: 4321, startTicks: 98765}},
}

var badStats = []struct{ name, in string }{
	{"empty", ""},
	{"pid only", "1234"},
	{"no closing paren", "1234 (x S 1 4321 4321 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 98765"},
	{"no parens", "1234 x S 1 4321 4321 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 98765"},
	{"name only", "1234 (x)"},
	{"name and newline", "1234 (x)\n"},
	{"name and state", "1234 (x) S"},
	{"21 fields", "1234 (x) S 1 4321 4321 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0"},
	{"truncated at half", statLine("(sleep)", "S", 4321, "98765")[:60]},
	{"two-letter state", statLine("(x)", "SS", 4321, "98765")},
	{"bad pgrp", strings.Replace(statLine("(x)", "S", 4321, "98765"), " 4321 ", " 43x1 ", 1)},
	{"bad start time", statLine("(x)", "S", 4321, "9876x")},
	{"negative start time", statLine("(x)", "S", 4321, "-1")},
	{"start time overflows", statLine("(x)", "S", 4321, "18446744073709551616")},
	{"paren after fields", statLine("(x)", "S", 4321, "98765") + ")"},
}

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	for _, tc := range goodStats {
		t.Run("ok/"+tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseProcStat([]byte(tc.in))
			got.cpuTicks, got.rssPages = 0, 0 // checked in TestParseProcStatUsage
			if err != nil || got != tc.want {
				t.Errorf("parseProcStat(%q): got %+v, %v; want %+v, nil", tc.in, got, err, tc.want)
			}
		})
	}
	for _, tc := range badStats {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			t.Parallel()
			if got, err := parseProcStat([]byte(tc.in)); err == nil {
				t.Errorf("parseProcStat(%q): got %+v, nil; want an error", tc.in, got)
			}
		})
	}
}

func TestProcStatSelf(t *testing.T) {
	t.Parallel()
	st, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatalf("readProcStat(self): %v", err)
	}
	if !strings.ContainsRune("RSD", rune(st.state)) { // alive: running, sleeping, or in a syscall
		t.Errorf("readProcStat(self): got state %q, want R, S or D", st.state)
	}
	if want := unix.Getpgrp(); st.pgrp != want {
		t.Errorf("readProcStat(self): got pgrp %d, want %d", st.pgrp, want)
	}
	if st.startTicks == 0 {
		t.Errorf("readProcStat(self): got start ticks 0, want > 0")
	}
	if start := startWallTime(st.startTicks); start.After(time.Now()) {
		t.Errorf("startWallTime(self): got %v, want it in the past", start)
	}
	for _, pid := range []int{0, -1, maxPID + 1} {
		if got, err := readProcStat(pid); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("readProcStat(%d): got %+v, %v; want os.ErrNotExist", pid, got, err)
		}
	}
}

func FuzzParseProcStat(f *testing.F) {
	for _, tc := range goodStats {
		f.Add([]byte(tc.in))
	}
	for _, tc := range badStats {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseProcStat(b)
		if err != nil && st != (procStat{}) {
			t.Fatalf("parseProcStat(%q): got %+v with an error; want the zero value", b, st)
		}
	})
}

func TestParseProcStatUsage(t *testing.T) {
	t.Parallel()
	got, err := parseProcStat([]byte(statLine("(sleep)", "S", 4321, "98765")))
	if err != nil || got.cpuTicks != 4 || got.rssPages != 377 {
		t.Fatalf("parseProcStat: got cpu %d rss %d, %v; want 4 (utime 3 + stime 1), 377", got.cpuTicks, got.rssPages, err)
	}
}
