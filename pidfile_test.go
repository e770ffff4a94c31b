package launcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// pfGoodPIDs are pid file contents parsePID accepts, with the pid they hold.
var pfGoodPIDs = []struct {
	name, in string
	want     int
}{
	{"two with newline", "2\n", 2},
	{"no newline", "12345", 12345},
	{"maxPID", "4194304", 4194304},
	{"maxPID with newline", "4194304\n", 4194304},
	{"seven digits", "1000000\n", 1000000},
}

// pfBadPIDs are pid file contents parsePID rejects. msg lists substrings of
// which the error message must hold at least one: the quoted (clipped)
// content, or the range problem.
var pfBadPIDs = []struct {
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
	for _, tc := range pfGoodPIDs {
		t.Run("ok/"+tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parsePID([]byte(tc.in))
			if err != nil || got != tc.want {
				t.Errorf("parsePID(%q): got %d, %v; want %d, nil", tc.in, got, err, tc.want)
			}
		})
	}
	for _, tc := range pfBadPIDs {
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
			if !pfContainsAny(msg, tc.msg) {
				t.Errorf("parsePID(%q): got message %q; want one of %q in it", tc.in, msg, tc.msg)
			}
			if len(msg) > 120 {
				t.Errorf("parsePID(%q): got a %d-byte message %q; want it clipped", tc.in, len(msg), msg)
			}
		})
	}
}

func pfContainsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// pfWrite writes content to dir/name and returns the path.
func pfWrite(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pfDirNames lists dir's entries.
func pfDirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// pfReadNoBlock runs read in a goroutine and fails the test if it does not
// return promptly. A read stuck opening the FIFO at fifo is released by
// opening its write end, so that no goroutine is left behind.
func pfReadNoBlock(t *testing.T, fifo string, read func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- read() }()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		if fd, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
			unix.Close(fd)
		}
		<-done
		t.Fatalf("reading FIFO %s blocked", fifo)
		return nil
	}
}

func TestReadPIDFile(t *testing.T) {
	t.Parallel()

	t.Run("ok", func(t *testing.T) {
		t.Parallel()
		for _, tc := range pfGoodPIDs {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				p := pfWrite(t, t.TempDir(), "d.pid", tc.in)
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				got, mtime, err := readPIDFile(p)
				if err != nil || got != tc.want {
					t.Fatalf("readPIDFile(%q): got %d, %v; want %d, nil", tc.in, got, err, tc.want)
				}
				if !mtime.Equal(st.ModTime()) {
					t.Errorf("readPIDFile(%q): got mtime %v, want %v", tc.in, mtime, st.ModTime())
				}
			})
		}
	})

	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "d.pid")
		got, _, err := readPIDFile(p)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("readPIDFile(missing): got %d, %v; want os.ErrNotExist", got, err)
		}
		if errors.Is(err, ErrBadPIDFile) {
			t.Errorf("readPIDFile(missing): got %v; want no ErrBadPIDFile", err)
		}
	})

	t.Run("bad", func(t *testing.T) {
		t.Parallel()
		for _, tc := range pfBadPIDs {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				p := pfWrite(t, t.TempDir(), "d.pid", tc.in)
				got, _, err := readPIDFile(p)
				if !errors.Is(err, ErrBadPIDFile) {
					t.Fatalf("readPIDFile(%q): got %d, %v; want ErrBadPIDFile", tc.in, got, err)
				}
				if got != 0 {
					t.Errorf("readPIDFile(%q): got pid %d with the error; want 0", tc.in, got)
				}
				if !strings.Contains(err.Error(), p) {
					t.Errorf("readPIDFile(%q): got message %q; want the path %s in it", tc.in, err, p)
				}
			})
		}
	})

	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "d.pid")
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		got, _, err := readPIDFile(p)
		if !errors.Is(err, ErrBadPIDFile) || !strings.Contains(fmt.Sprint(err), p) {
			t.Errorf("readPIDFile(dir): got %d, %v; want ErrBadPIDFile naming %s", got, err, p)
		}
	})

	t.Run("fifo", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "d.pid")
		if err := unix.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		var got int
		err := pfReadNoBlock(t, p, func() error {
			var err error
			got, _, err = readPIDFile(p)
			return err
		})
		if !errors.Is(err, ErrBadPIDFile) || !strings.Contains(fmt.Sprint(err), p) {
			t.Errorf("readPIDFile(fifo): got %d, %v; want ErrBadPIDFile naming %s", got, err, p)
		}
	})

	for _, tc := range []struct{ name, target string }{
		{"symlink to valid pid file", "real.pid"},
		{"dangling symlink", "nowhere.pid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pfWrite(t, dir, "real.pid", "1234\n")
			p := filepath.Join(dir, "d.pid")
			if err := os.Symlink(filepath.Join(dir, tc.target), p); err != nil {
				t.Fatal(err)
			}
			got, _, err := readPIDFile(p)
			if !errors.Is(err, ErrSymlink) {
				t.Errorf("readPIDFile(symlink): got %d, %v; want ErrSymlink", got, err)
			}
		})
	}
}

// pfIdentityJSON is a valid identity record; pfBadIdentities are records
// parseIdentity rejects.
const pfIdentityJSON = `{"pid":4321,"start_ticks":98765,"boot_id":"b","pid_ns":4026531836,` +
	`"started":"2024-05-06T07:08:09.123456789Z","command":["sleep","10"],"token":"t"}`

var pfBadIdentities = []struct{ name, in string }{
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

func pfWantIdentity() identity {
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
		got, err := parseIdentity([]byte(pfIdentityJSON))
		if err != nil {
			t.Fatalf("parseIdentity: got %v, want nil", err)
		}
		if diff := cmp.Diff(pfWantIdentity(), got); diff != "" {
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
	for _, tc := range pfBadIdentities {
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

func TestWritePIDFilesRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		id   identity
	}{
		{"command", identity{
			PID: 31337, StartTicks: 1234567, BootID: bootID(), PIDNS: pidNS(),
			Started: time.Now(), Command: []string{"/bin/sleep", "a b", "ü\n\"x\""}, Token: newToken(),
		}},
		{"func", identity{
			PID: maxPID, StartTicks: 1<<64 - 1, BootID: "0c7d1b9e-2e3b-4f1a-8d5e-000000000000", PIDNS: 1,
			Started: time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600)), Func: "sleep", Token: "tok",
		}},
		{"minimal", identity{PID: 2, StartTicks: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pidPath, idPath := filepath.Join(dir, "d.pid"), filepath.Join(dir, "d.id")
			if err := writePIDFiles(pidPath, idPath, tc.id); err != nil {
				t.Fatalf("writePIDFiles: %v", err)
			}
			b, err := os.ReadFile(pidPath)
			if err != nil {
				t.Fatal(err)
			}
			if want := strconv.Itoa(tc.id.PID) + "\n"; string(b) != want {
				t.Errorf("pid file: got %q, want %q", b, want)
			}
			pid, mtime, err := readPIDFile(pidPath)
			if err != nil || pid != tc.id.PID {
				t.Errorf("readPIDFile: got %d, %v; want %d, nil", pid, err, tc.id.PID)
			}
			if mtime.IsZero() {
				t.Errorf("readPIDFile: got zero mtime, want the file's")
			}
			got, err := readIdentityFile(idPath)
			if err != nil {
				t.Fatalf("readIdentityFile: got %v, want nil", err)
			}
			if diff := cmp.Diff(tc.id, got); diff != "" {
				t.Errorf("readIdentityFile: got … want … (-want +got):\n%s", diff)
			}
			if names := pfDirNames(t, dir); !cmp.Equal(names, []string{"d.id", "d.pid"}) {
				t.Errorf("dir: got %q, want [d.id d.pid]", names)
			}
		})
	}
}

func TestReadIdentityFile(t *testing.T) {
	t.Parallel()

	t.Run("ok", func(t *testing.T) {
		t.Parallel()
		p := pfWrite(t, t.TempDir(), "d.id", pfIdentityJSON+"\n")
		got, err := readIdentityFile(p)
		if err != nil {
			t.Fatalf("readIdentityFile: got %v, want nil", err)
		}
		if diff := cmp.Diff(pfWantIdentity(), got); diff != "" {
			t.Errorf("readIdentityFile: got … want … (-want +got):\n%s", diff)
		}
	})

	t.Run("missing", func(t *testing.T) {
		t.Parallel()
		_, err := readIdentityFile(filepath.Join(t.TempDir(), "d.id"))
		if !errors.Is(err, os.ErrNotExist) || errors.Is(err, ErrBadIdentity) {
			t.Errorf("readIdentityFile(missing): got %v; want os.ErrNotExist", err)
		}
	})

	for _, tc := range pfBadIdentities {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			t.Parallel()
			p := pfWrite(t, t.TempDir(), "d.id", tc.in)
			_, err := readIdentityFile(p)
			if !errors.Is(err, ErrBadIdentity) || !strings.Contains(fmt.Sprint(err), p) {
				t.Errorf("readIdentityFile(%s): got %v; want ErrBadIdentity naming %s", tc.in, err, p)
			}
		})
	}

	// A valid record padded with JSON whitespace: exactly 64 KiB is read,
	// one byte more is too large.
	for _, tc := range []struct {
		name string
		size int
		ok   bool
	}{
		{"64 KiB", 64 << 10, true},
		{"64 KiB plus one", 64<<10 + 1, false},
		{"1 MiB", 1 << 20, false},
	} {
		t.Run("size/"+tc.name, func(t *testing.T) {
			t.Parallel()
			content := pfIdentityJSON + strings.Repeat(" ", tc.size-len(pfIdentityJSON))
			p := pfWrite(t, t.TempDir(), "d.id", content)
			got, err := readIdentityFile(p)
			switch {
			case tc.ok && (err != nil || got.PID != 4321):
				t.Errorf("readIdentityFile(%d bytes): got %+v, %v; want pid 4321, nil", tc.size, got, err)
			case !tc.ok && !errors.Is(err, ErrBadIdentity):
				t.Errorf("readIdentityFile(%d bytes): got %+v, %v; want ErrBadIdentity", tc.size, got, err)
			}
		})
	}

	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "d.id")
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if _, err := readIdentityFile(p); !errors.Is(err, ErrBadIdentity) {
			t.Errorf("readIdentityFile(dir): got %v; want ErrBadIdentity", err)
		}
	})

	t.Run("fifo", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "d.id")
		if err := unix.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		err := pfReadNoBlock(t, p, func() error {
			_, err := readIdentityFile(p)
			return err
		})
		if !errors.Is(err, ErrBadIdentity) {
			t.Errorf("readIdentityFile(fifo): got %v; want ErrBadIdentity", err)
		}
	})

	t.Run("symlink", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		realID := pfWrite(t, dir, "real.id", pfIdentityJSON)
		p := filepath.Join(dir, "d.id")
		if err := os.Symlink(realID, p); err != nil {
			t.Fatal(err)
		}
		if got, err := readIdentityFile(p); !errors.Is(err, ErrSymlink) {
			t.Errorf("readIdentityFile(symlink): got %+v, %v; want ErrSymlink", got, err)
		}
	})
}

func TestWriteFileAtomic(t *testing.T) {
	t.Parallel()

	t.Run("new file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		p := filepath.Join(dir, "d.pid")
		if err := writeFileAtomic(p, []byte("1234\n")); err != nil {
			t.Fatalf("writeFileAtomic: %v", err)
		}
		pfCheckRegular(t, p, "1234\n")
		if names := pfDirNames(t, dir); !cmp.Equal(names, []string{"d.pid"}) {
			t.Errorf("dir: got %q, want [d.pid]", names)
		}
	})

	t.Run("empty content", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "d.pid")
		if err := writeFileAtomic(p, nil); err != nil {
			t.Fatalf("writeFileAtomic: %v", err)
		}
		pfCheckRegular(t, p, "")
	})

	t.Run("replaces file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		p := pfWrite(t, dir, "d.pid", "a much longer old content\n")
		if err := writeFileAtomic(p, []byte("99\n")); err != nil {
			t.Fatalf("writeFileAtomic: %v", err)
		}
		pfCheckRegular(t, p, "99\n")
		if names := pfDirNames(t, dir); !cmp.Equal(names, []string{"d.pid"}) {
			t.Errorf("dir: got %q, want [d.pid]", names)
		}
	})

	t.Run("replaces symlink", func(t *testing.T) {
		t.Parallel()
		outside := pfWrite(t, t.TempDir(), "victim", "precious\n")
		dir := t.TempDir()
		p := filepath.Join(dir, "d.pid")
		if err := os.Symlink(outside, p); err != nil {
			t.Fatal(err)
		}
		if err := writeFileAtomic(p, []byte("1234\n")); err != nil {
			t.Fatalf("writeFileAtomic: %v", err)
		}
		if b, err := os.ReadFile(outside); err != nil || string(b) != "precious\n" {
			t.Errorf("outside file: got %q, %v; want %q untouched", b, err, "precious\n")
		}
		pfCheckRegular(t, p, "1234\n")
		if names := pfDirNames(t, dir); !cmp.Equal(names, []string{"d.pid"}) {
			t.Errorf("dir: got %q, want [d.pid]", names)
		}
	})

	t.Run("replaces dangling symlink", func(t *testing.T) {
		t.Parallel()
		outDir := t.TempDir()
		outside := filepath.Join(outDir, "created")
		dir := t.TempDir()
		p := filepath.Join(dir, "d.pid")
		if err := os.Symlink(outside, p); err != nil {
			t.Fatal(err)
		}
		if err := writeFileAtomic(p, []byte("1234\n")); err != nil {
			t.Fatalf("writeFileAtomic: %v", err)
		}
		if names := pfDirNames(t, outDir); len(names) != 0 {
			t.Errorf("symlink target dir: got %q, want nothing created", names)
		}
		pfCheckRegular(t, p, "1234\n")
	})

	t.Run("missing dir", func(t *testing.T) {
		t.Parallel()
		parent := t.TempDir()
		p := filepath.Join(parent, "missing", "d.pid")
		err := writeFileAtomic(p, []byte("1234\n"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("writeFileAtomic(missing dir): got %v; want os.ErrNotExist", err)
		}
		if names := pfDirNames(t, parent); len(names) != 0 {
			t.Errorf("parent dir: got %q, want nothing left", names)
		}
	})

	t.Run("rename fails", func(t *testing.T) {
		t.Parallel()
		// A non-empty directory at the target: the temp file is written,
		// the rename fails, and the temp file must go.
		dir := t.TempDir()
		p := filepath.Join(dir, "d.pid")
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		pfWrite(t, p, "inside", "x")
		if err := writeFileAtomic(p, []byte("1234\n")); err == nil {
			t.Errorf("writeFileAtomic(onto a directory): got nil, want an error")
		}
		if names := pfDirNames(t, dir); !cmp.Equal(names, []string{"d.pid"}) {
			t.Errorf("dir: got %q, want [d.pid] (no temp file left)", names)
		}
		if names := pfDirNames(t, p); !cmp.Equal(names, []string{"inside"}) {
			t.Errorf("target dir: got %q, want [inside]", names)
		}
	})
}

// pfCheckRegular checks that p is a regular file (not a symlink) holding
// want.
func pfCheckRegular(t *testing.T, p, want string) {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Mode().IsRegular() {
		t.Errorf("%s: got mode %v, want a regular file", p, st.Mode())
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != want {
		t.Errorf("%s: got %q, %v; want %q", p, b, err, want)
	}
}

// pfUmask reads the process umask without changing it (unix.Umask would
// race with parallel tests creating files).
func pfUmask(t *testing.T) os.FileMode {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("Umask:")); ok {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 8, 32)
			if err != nil {
				t.Fatal(err)
			}
			return os.FileMode(n)
		}
	}
	t.Skip("no Umask in /proc/self/status")
	return 0
}

// pfOpenLock opens path with openLock and returns the fd and a close
// function that closes it exactly once (also at cleanup), so that no fd
// leaks and no fd number is ever closed twice.
func pfOpenLock(t *testing.T, path string) (int, func()) {
	t.Helper()
	fd, err := openLock(path)
	if err != nil {
		t.Fatalf("openLock(%s): %v", path, err)
	}
	if fd < 0 {
		t.Fatalf("openLock(%s): got fd %d with a nil error", path, fd)
	}
	closeFD := sync.OnceFunc(func() {
		if err := unix.Close(fd); err != nil {
			t.Errorf("close lock fd: %v", err)
		}
	})
	t.Cleanup(closeFD)
	return fd, closeFD
}

func TestOpenLock(t *testing.T) {
	t.Parallel()

	t.Run("creates", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "d.lock")
		fd, closeFD := pfOpenLock(t, p)
		defer closeFD()
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := 0o644 &^ pfUmask(t); !st.Mode().IsRegular() || st.Mode().Perm() != want {
			t.Errorf("lock file: got mode %v, want a regular file %v", st.Mode(), want)
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("lock fd flags: got %#x, %v; want FD_CLOEXEC", flags, err)
		}
	})

	t.Run("existing", func(t *testing.T) {
		t.Parallel()
		p := pfWrite(t, t.TempDir(), "d.lock", "keep")
		_, closeFD := pfOpenLock(t, p)
		closeFD()
		pfCheckRegular(t, p, "keep")
	})

	for _, tc := range []struct {
		name   string
		exists bool
	}{
		{"symlink to missing file", false},
		{"symlink to existing file", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			outDir := t.TempDir()
			target := filepath.Join(outDir, "target.lock")
			if tc.exists {
				pfWrite(t, outDir, "target.lock", "")
			}
			p := filepath.Join(t.TempDir(), "d.lock")
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			fd, err := openLock(p)
			if err == nil {
				unix.Close(fd)
			}
			if !errors.Is(err, ErrSymlink) || fd != -1 {
				t.Errorf("openLock(symlink): got %d, %v; want -1, ErrSymlink", fd, err)
			}
			if _, err := os.Lstat(target); tc.exists == errors.Is(err, os.ErrNotExist) {
				t.Errorf("symlink target: got Lstat error %v; want it to exist=%v as before", err, tc.exists)
			}
			b, lerr := lockBusy(p)
			if !errors.Is(lerr, ErrSymlink) {
				t.Errorf("lockBusy(symlink): got %v, %v; want ErrSymlink", b, lerr)
			}
		})
	}

	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "d.lock")
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		fd, err := openLock(p)
		if err == nil {
			unix.Close(fd)
			t.Errorf("openLock(dir): got fd %d, nil; want an error", fd)
		}
	})

	t.Run("fifo", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "d.lock")
		if err := unix.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
		var fd int
		err := pfReadNoBlock(t, p, func() error {
			var err error
			fd, err = openLock(p)
			return err
		})
		if err == nil {
			unix.Close(fd)
			t.Errorf("openLock(fifo): got fd %d, nil; want an error", fd)
		}
	})
}

func TestTryLock(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "d.lock")

	busy := func(want bool) {
		t.Helper()
		if got, err := lockBusy(p); err != nil || got != want {
			t.Errorf("lockBusy: got %v, %v; want %v, nil", got, err, want)
		}
	}
	lock := func(name string, fd int, want bool) {
		t.Helper()
		if got, err := tryLock(fd); err != nil || got != want {
			t.Errorf("tryLock(%s): got %v, %v; want %v, nil", name, got, err, want)
		}
	}

	busy(false) // creates the file
	busy(false) // and did not keep the lock
	fd1, close1 := pfOpenLock(t, p)
	fd2, close2 := pfOpenLock(t, p)
	lock("first", fd1, true)
	lock("second", fd2, false)
	busy(true)
	lock("first again", fd1, true) // the holder may take it again
	lock("second again", fd2, false)
	close1()
	busy(false)
	lock("second after first closed", fd2, true)
	busy(true)
	close2()
	busy(false)

	if got, err := tryLock(-1); err == nil || got {
		t.Errorf("tryLock(-1): got %v, %v; want false, an error", got, err)
	}
}

func TestRemovePIDFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		pid, id bool
	}{
		{"both", true, true},
		{"pid only", true, false},
		{"id only", false, true},
		{"neither", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pidPath, idPath := filepath.Join(dir, "d.pid"), filepath.Join(dir, "d.id")
			pfWrite(t, dir, "d.lock", "")
			if tc.pid {
				pfWrite(t, dir, "d.pid", "1234\n")
			}
			if tc.id {
				pfWrite(t, dir, "d.id", pfIdentityJSON)
			}
			if err := removePIDFiles(pidPath, idPath); err != nil {
				t.Errorf("removePIDFiles: got %v, want nil", err)
			}
			if names := pfDirNames(t, dir); !cmp.Equal(names, []string{"d.lock"}) {
				t.Errorf("dir: got %q, want [d.lock]", names)
			}
			if err := removePIDFiles(pidPath, idPath); err != nil {
				t.Errorf("removePIDFiles again: got %v, want nil", err)
			}
		})
	}

	t.Run("symlinks", func(t *testing.T) {
		t.Parallel()
		outDir := t.TempDir()
		victim := pfWrite(t, outDir, "victim", "precious")
		dir := t.TempDir()
		pidPath, idPath := filepath.Join(dir, "d.pid"), filepath.Join(dir, "d.id")
		for _, p := range []string{pidPath, idPath} {
			if err := os.Symlink(victim, p); err != nil {
				t.Fatal(err)
			}
		}
		if err := removePIDFiles(pidPath, idPath); err != nil {
			t.Errorf("removePIDFiles: got %v, want nil", err)
		}
		if names := pfDirNames(t, dir); len(names) != 0 {
			t.Errorf("dir: got %q, want empty", names)
		}
		pfCheckRegular(t, victim, "precious")
	})

	t.Run("error", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		pidPath, idPath := filepath.Join(dir, "d.pid"), filepath.Join(dir, "d.id")
		if err := os.Mkdir(pidPath, 0o755); err != nil {
			t.Fatal(err)
		}
		pfWrite(t, pidPath, "inside", "")
		pfWrite(t, dir, "d.id", "")
		if err := removePIDFiles(pidPath, idPath); err == nil {
			t.Errorf("removePIDFiles(non-empty dir at pid path): got nil, want an error")
		}
		if _, err := os.Lstat(idPath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("id file: got Lstat %v; want it removed even when the pid file is not", err)
		}
	})
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

// pfStat builds a /proc/<pid>/stat line with the given command name (with
// its parentheses), state, pgrp and start time, and the other fields as a
// real one has them (52 fields).
func pfStat(comm, state string, pgrp int, start string) string {
	return "1234 " + comm + " " + state + " 1 " + strconv.Itoa(pgrp) + " " + strconv.Itoa(pgrp) +
		" 34817 -1 4194560 97 0 0 0 3 1 0 0 20 0 1 0 " + start +
		" 3133440 377 18446744073709551615 94854151811072 94854151830953 140728225705504" +
		" 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 94854151846960 94854151848576 94854497447936" +
		" 140728225708535 140728225708555 140728225708555 140728225710059 0\n"
}

var pfGoodStats = []struct {
	name, in string
	want     procStat
}{
	{"real cat", "12396 (cat) R 12392 12392 11279 0 -1 4194304 97 0 0 0 0 0 0 0 20 0 1 0 152229 3133440 377 " +
		"18446744073709551615 94854151811072 94854151830953 140728225705504 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 " +
		"94854151846960 94854151848576 94854497447936 140728225708535 140728225708555 140728225708555 " +
		"140728225710059 0\n", procStat{state: 'R', pgrp: 12392, session: 11279, flags: 4194304, startTicks: 152229}},
	{"plain", pfStat("(sleep)", "S", 4321, "98765"), procStat{state: 'S', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"spaces in name", pfStat("(my  daemon x)", "S", 4321, "98765"), procStat{state: 'S', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"parens in name", pfStat("(a) b) c)", "S", 4321, "98765"), procStat{state: 'S', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"fake fields in name", pfStat("(x) R 9 9 9)", "D", 4321, "98765"), procStat{state: 'D', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"open paren in name", pfStat("((()", "T", 4321, "98765"), procStat{state: 'T', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"empty name", pfStat("()", "Z", 7, "1"), procStat{state: 'Z', pgrp: 7, session: 7, flags: 4194560, startTicks: 1}},
	{"newline in name", pfStat("(a\nb)", "S", 4321, "98765"), procStat{state: 'S', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"max start time", pfStat("(x)", "I", 4321, "18446744073709551615"), procStat{state: 'I', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 1<<64 - 1}},
	{"no trailing newline", strings.TrimSuffix(pfStat("(x)", "S", 4321, "98765"), "\n"), procStat{state: 'S', pgrp: 4321, session: 4321, flags: 4194560, startTicks: 98765}},
	{"just 22 fields", "1234 (x) S 1 4321 4321 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 98765", procStat{state: 'S', pgrp: 4321, session: 4321, startTicks: 98765}},
}

var pfBadStats = []struct{ name, in string }{
	{"empty", ""},
	{"pid only", "1234"},
	{"no closing paren", "1234 (x S 1 4321 4321 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 98765"},
	{"no parens", "1234 x S 1 4321 4321 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 98765"},
	{"name only", "1234 (x)"},
	{"name and newline", "1234 (x)\n"},
	{"name and state", "1234 (x) S"},
	{"21 fields", "1234 (x) S 1 4321 4321 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0"},
	{"truncated at half", pfStat("(sleep)", "S", 4321, "98765")[:60]},
	{"two-letter state", pfStat("(x)", "SS", 4321, "98765")},
	{"bad pgrp", strings.Replace(pfStat("(x)", "S", 4321, "98765"), " 4321 ", " 43x1 ", 1)},
	{"bad start time", pfStat("(x)", "S", 4321, "9876x")},
	{"negative start time", pfStat("(x)", "S", 4321, "-1")},
	{"start time overflows", pfStat("(x)", "S", 4321, "18446744073709551616")},
	{"paren after fields", pfStat("(x)", "S", 4321, "98765") + ")"},
}

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	for _, tc := range pfGoodStats {
		t.Run("ok/"+tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseProcStat([]byte(tc.in))
			got.cpuTicks, got.rssPages = 0, 0 // checked in TestParseProcStatUsage
			if err != nil || got != tc.want {
				t.Errorf("parseProcStat(%q): got %+v, %v; want %+v, nil", tc.in, got, err, tc.want)
			}
		})
	}
	for _, tc := range pfBadStats {
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

func FuzzParsePID(f *testing.F) {
	for _, tc := range pfGoodPIDs {
		f.Add([]byte(tc.in))
	}
	for _, tc := range pfBadPIDs {
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
	f.Add([]byte(pfIdentityJSON))
	for _, tc := range pfBadIdentities {
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

func FuzzParseProcStat(f *testing.F) {
	for _, tc := range pfGoodStats {
		f.Add([]byte(tc.in))
	}
	for _, tc := range pfBadStats {
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
	got, err := parseProcStat([]byte(pfStat("(sleep)", "S", 4321, "98765")))
	if err != nil || got.cpuTicks != 4 || got.rssPages != 377 {
		t.Fatalf("parseProcStat: got cpu %d rss %d, %v; want 4 (utime 3 + stime 1), 377", got.cpuTicks, got.rssPages, err)
	}
}

// lockBusy reports whether somebody holds the lock at path, through the
// look every controller takes.
func lockBusy(path string) (bool, error) {
	f := files{lock: path}
	st, _, err := f.probeLock(false)
	return st == lockHeld, err
}
