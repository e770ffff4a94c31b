package launcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// goodPIDs are pid file contents parsePID accepts, with the pid they hold.
var goodPIDs = []struct {
	name, in string
	want     int
}{
	{"two with newline", "2\n", 2},
	{"no newline", "12345", 12345},
	{"maxPID", "4194304", 4194304},
	{"maxPID with newline", "4194304\n", 4194304},
	{"seven digits", "1000000\n", 1000000},
}

// badPIDs are pid file contents parsePID rejects. msg lists substrings of
// which the error message must hold at least one: the quoted (clipped)
// content, or the range problem.
var badPIDs = []struct {
	name, in string
	msg      []string
}{
	{"empty", "", []string{`""`}},
	{"newline only", "\n", []string{`"\n"`}},
	{"letters", "abc", []string{`"abc"`}},
	{"zero", "0", []string{`"0"`, "pid 0 is out of range"}},
	{"zero newline", "0\n", []string{`"0\n"`, "pid 0 is out of range"}},
	{"one", "1", []string{"pid 1 is out of range"}},
	{"one newline", "1\n", []string{"pid 1 is out of range"}},
	{"negative", "-5", []string{`"-5"`}},
	{"eleven digits", "99999999999", []string{`"99999999999"`, "out of range"}},
	{"inner space", "12 34", []string{`"12 34"`}},
	{"trailing letters", "123abc", []string{`"123abc"`}},
	{"two newlines", "123\n\n", []string{`"123\n\n"`}},
	{"leading space", " 123", []string{`" 123"`}},
	{"leading zero", "0123", []string{`"0123"`}},
	{"maxPID plus one", "4194305", []string{"pid 4194305 is out of range"}},
	{"plus sign", "+5", []string{`"+5"`}},
	{"exponent", "1e3", []string{`"1e3"`}},
	{"junk after newline", "123\njunk", []string{`"123\njunk"`}},
	{"trailing space", "123 \n", []string{`"123 \n"`}},
	{"CRLF", "123\r\n", []string{`"123\r\n"`}},
	{"NUL after pid", "123\x00", []string{`"123\x00"`}},
	{"newline first", "\n123", []string{`"\n123"`}},
	{"hex", "0x10", []string{`"0x10"`}},
	{"UTF-8 digits", "١٢٣", []string{strconv.Quote("١٢٣")}},
	{"1 KiB", strings.Repeat("7", 1024), []string{strconv.Quote(strings.Repeat("7", 32) + "...")}},
}

func TestParsePID(t *testing.T) {
	t.Parallel()
	for _, tc := range goodPIDs {
		t.Run("ok/"+tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parsePID([]byte(tc.in))
			if err != nil || got != tc.want {
				t.Errorf("parsePID(%q): got %d, %v; want %d, nil", tc.in, got, err, tc.want)
			}
		})
	}
	for _, tc := range badPIDs {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parsePID([]byte(tc.in))
			if !errors.Is(err, ErrBadPIDFile) {
				t.Fatalf("parsePID(%q): got %d, %v; want ErrBadPIDFile", tc.in, got, err)
			}
			if got != 0 {
				t.Errorf("parsePID(%q): got pid %d with the error; want 0", tc.in, got)
			}
			msg := err.Error()
			if !containsAny(msg, tc.msg) {
				t.Errorf("parsePID(%q): got message %q; want one of %q in it", tc.in, msg, tc.msg)
			}
			if len(msg) > 120 {
				t.Errorf("parsePID(%q): got a %d-byte message %q; want it clipped", tc.in, len(msg), msg)
			}
		})
	}
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// identityJSON is a valid identity record; badIdentities are records
// parseIdentity rejects.
const identityJSON = `{"pid":4321,"start_ticks":98765,"boot_id":"b","pid_ns":4026531836,` +
	`"started":"2024-05-06T07:08:09.123456789Z","command":["sleep","10"],"token":"t"}`

var badIdentities = []struct{ name, in string }{
	{"empty", ""},
	{"junk", "junk"},
	{"truncated", `{"pid":4321,"start_ticks":98765`},
	{"array", `[4321]`},
	{"null", `null`},
	{"empty object", `{}`},
	{"trailing junk", `{"pid":4321,"start_ticks":98765} x`},
	{"pid 0", `{"pid":0,"start_ticks":98765}`},
	{"pid 1", `{"pid":1,"start_ticks":98765}`},
	{"pid -1", `{"pid":-1,"start_ticks":98765}`},
	{"pid too large", `{"pid":4194305,"start_ticks":98765}`},
	{"pid overflows", `{"pid":99999999999999999999999,"start_ticks":98765}`},
	{"pid float", `{"pid":4321.5,"start_ticks":98765}`},
	{"pid string", `{"pid":"4321","start_ticks":98765}`},
	{"missing pid", `{"start_ticks":98765}`},
	{"missing start_ticks", `{"pid":4321,"boot_id":"b"}`},
	{"start_ticks 0", `{"pid":4321,"start_ticks":0}`},
	{"start_ticks negative", `{"pid":4321,"start_ticks":-5}`},
	{"start_ticks string", `{"pid":4321,"start_ticks":"98765"}`},
	{"pid overridden by 0", `{"pid":4321,"start_ticks":98765,"pid":0}`},
	{"bad started", `{"pid":4321,"start_ticks":98765,"started":"yesterday"}`},
}

func sampleIdentity() identity {
	return identity{
		PID: 4321, StartTicks: 98765, BootID: "b", PIDNS: 4026531836,
		Started: time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC),
		Command: []string{"sleep", "10"}, Token: "t",
	}
}

func TestParseIdentity(t *testing.T) {
	t.Parallel()
	t.Run("ok", func(t *testing.T) {
		t.Parallel()
		got, err := parseIdentity([]byte(identityJSON))
		if err != nil {
			t.Fatalf("parseIdentity: got %v, want nil", err)
		}
		if diff := cmp.Diff(sampleIdentity(), got); diff != "" {
			t.Errorf("parseIdentity: got … want … (-want +got):\n%s", diff)
		}
	})
	t.Run("ok bounds", func(t *testing.T) {
		t.Parallel()
		for _, pid := range []int{2, maxPID} {
			in := fmt.Sprintf(`{"pid":%d,"start_ticks":18446744073709551615}`, pid)
			got, err := parseIdentity([]byte(in))
			if err != nil || got.PID != pid || got.StartTicks != 1<<64-1 {
				t.Errorf("parseIdentity(%s): got %+v, %v; want pid %d, max start_ticks", in, got, err, pid)
			}
		}
	})
	for _, tc := range badIdentities {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseIdentity([]byte(tc.in))
			if !errors.Is(err, ErrBadIdentity) {
				t.Errorf("parseIdentity(%s): got %+v, %v; want ErrBadIdentity", tc.in, got, err)
			}
			if diff := cmp.Diff(identity{}, got); err != nil && diff != "" {
				t.Errorf("parseIdentity(%s): got a non-zero identity with the error (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"web", true},
		{"a.b_c-1", true},
		{"A", true},
		{"a.", true},
		{"-", true},
		{"0", true},
		{strings.Repeat("n", 200), true},
		{"", false},
		{".", false},
		{"..", false},
		{".hidden", false},
		{"a/b", false},
		{"/", false},
		{"../x", false},
		{"a b", false},
		{"a\x00", false},
		{"a\n", false},
		{"é", false},
		{"a:b", false},
		{"a\\b", false},
		{strings.Repeat("n", 201), false},
	} {
		label := tc.name
		if len(label) > 20 {
			label = fmt.Sprintf("%d chars", len(label))
		}
		t.Run(strconv.Quote(label), func(t *testing.T) {
			t.Parallel()
			if got := ValidName(tc.name); got != tc.want {
				t.Errorf("ValidName(%q): got %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}

func FuzzParsePID(f *testing.F) {
	for _, tc := range goodPIDs {
		f.Add([]byte(tc.in))
	}
	for _, tc := range badPIDs {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pid, err := parsePID(b)
		if err != nil {
			if !errors.Is(err, ErrBadPIDFile) {
				t.Fatalf("parsePID(%q): got %v; want ErrBadPIDFile", b, err)
			}
			if pid != 0 {
				t.Fatalf("parsePID(%q): got pid %d with an error; want 0", b, pid)
			}
			return
		}
		if pid < 2 || pid > maxPID {
			t.Fatalf("parsePID(%q): got %d; want a pid in 2..%d", b, pid, maxPID)
		}
		if s := strconv.Itoa(pid); string(b) != s && string(b) != s+"\n" {
			t.Fatalf("parsePID(%q): got %d; want the input to be %q or %q", b, pid, s, s+"\n")
		}
	})
}

func FuzzParseIdentity(f *testing.F) {
	f.Add([]byte(identityJSON))
	for _, tc := range badIdentities {
		f.Add([]byte(tc.in))
	}
	if b, err := json.Marshal(identity{PID: 2, StartTicks: 1, Started: time.Now(), Func: "f"}); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := parseIdentity(b)
		if err != nil {
			if !errors.Is(err, ErrBadIdentity) {
				t.Fatalf("parseIdentity(%q): got %v; want ErrBadIdentity", b, err)
			}
			return
		}
		if id.PID < 2 || id.PID > maxPID {
			t.Fatalf("parseIdentity(%q): got pid %d; want one in 2..%d", b, id.PID, maxPID)
		}
		if id.StartTicks == 0 {
			t.Fatalf("parseIdentity(%q): got start ticks 0; want > 0", b)
		}
	})
}
