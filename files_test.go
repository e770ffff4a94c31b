// files_test.go checks the pid dir's reads and writes (files.go,
// files_lock.go): strict reads that never block, atomic writes that never
// go through a planted symlink, the lock.

package launcher

import (
	"bytes"
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

// writeTestFile writes content to dir/name and returns the path.
func writeTestFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// dirNames lists dir's entries.
func dirNames(t *testing.T, dir string) []string {
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

// readNoBlock runs read in a goroutine and fails the test if it does not
// return promptly. A read stuck opening the FIFO at fifo is released by
// opening its write end, so that no goroutine is left behind.
func readNoBlock(t *testing.T, fifo string, read func() error) error {
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
		for _, tc := range goodPIDs {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				p := writeTestFile(t, t.TempDir(), "d.pid", tc.in)
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
		for _, tc := range badPIDs {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				p := writeTestFile(t, t.TempDir(), "d.pid", tc.in)
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
		err := readNoBlock(t, p, func() error {
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
			writeTestFile(t, dir, "real.pid", "1234\n")
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
			if names := dirNames(t, dir); !cmp.Equal(names, []string{"d.id", "d.pid"}) {
				t.Errorf("dir: got %q, want [d.id d.pid]", names)
			}
		})
	}
}

func TestReadIdentityFile(t *testing.T) {
	t.Parallel()

	t.Run("ok", func(t *testing.T) {
		t.Parallel()
		p := writeTestFile(t, t.TempDir(), "d.id", identityJSON+"\n")
		got, err := readIdentityFile(p)
		if err != nil {
			t.Fatalf("readIdentityFile: got %v, want nil", err)
		}
		if diff := cmp.Diff(sampleIdentity(), got); diff != "" {
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

	for _, tc := range badIdentities {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			t.Parallel()
			p := writeTestFile(t, t.TempDir(), "d.id", tc.in)
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
			content := identityJSON + strings.Repeat(" ", tc.size-len(identityJSON))
			p := writeTestFile(t, t.TempDir(), "d.id", content)
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
		err := readNoBlock(t, p, func() error {
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
		realID := writeTestFile(t, dir, "real.id", identityJSON)
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
		checkRegular(t, p, "1234\n")
		if names := dirNames(t, dir); !cmp.Equal(names, []string{"d.pid"}) {
			t.Errorf("dir: got %q, want [d.pid]", names)
		}
	})

	t.Run("empty content", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "d.pid")
		if err := writeFileAtomic(p, nil); err != nil {
			t.Fatalf("writeFileAtomic: %v", err)
		}
		checkRegular(t, p, "")
	})

	t.Run("replaces file", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		p := writeTestFile(t, dir, "d.pid", "a much longer old content\n")
		if err := writeFileAtomic(p, []byte("99\n")); err != nil {
			t.Fatalf("writeFileAtomic: %v", err)
		}
		checkRegular(t, p, "99\n")
		if names := dirNames(t, dir); !cmp.Equal(names, []string{"d.pid"}) {
			t.Errorf("dir: got %q, want [d.pid]", names)
		}
	})

	t.Run("replaces symlink", func(t *testing.T) {
		t.Parallel()
		outside := writeTestFile(t, t.TempDir(), "victim", "precious\n")
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
		checkRegular(t, p, "1234\n")
		if names := dirNames(t, dir); !cmp.Equal(names, []string{"d.pid"}) {
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
		if names := dirNames(t, outDir); len(names) != 0 {
			t.Errorf("symlink target dir: got %q, want nothing created", names)
		}
		checkRegular(t, p, "1234\n")
	})

	t.Run("missing dir", func(t *testing.T) {
		t.Parallel()
		parent := t.TempDir()
		p := filepath.Join(parent, "missing", "d.pid")
		err := writeFileAtomic(p, []byte("1234\n"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("writeFileAtomic(missing dir): got %v; want os.ErrNotExist", err)
		}
		if names := dirNames(t, parent); len(names) != 0 {
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
		writeTestFile(t, p, "inside", "x")
		if err := writeFileAtomic(p, []byte("1234\n")); err == nil {
			t.Errorf("writeFileAtomic(onto a directory): got nil, want an error")
		}
		if names := dirNames(t, dir); !cmp.Equal(names, []string{"d.pid"}) {
			t.Errorf("dir: got %q, want [d.pid] (no temp file left)", names)
		}
		if names := dirNames(t, p); !cmp.Equal(names, []string{"inside"}) {
			t.Errorf("target dir: got %q, want [inside]", names)
		}
	})
}

// checkRegular checks that p is a regular file (not a symlink) holding
// want.
func checkRegular(t *testing.T, p, want string) {
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

// currentUmask reads the process umask without changing it (unix.Umask would
// race with parallel tests creating files).
func currentUmask(t *testing.T) os.FileMode {
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

// openTestLock opens path with openLock and returns the fd and a close
// function that closes it exactly once (also at cleanup), so that no fd
// leaks and no fd number is ever closed twice.
func openTestLock(t *testing.T, path string) (int, func()) {
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
		fd, closeFD := openTestLock(t, p)
		defer closeFD()
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if want := 0o644 &^ currentUmask(t); !st.Mode().IsRegular() || st.Mode().Perm() != want {
			t.Errorf("lock file: got mode %v, want a regular file %v", st.Mode(), want)
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("lock fd flags: got %#x, %v; want FD_CLOEXEC", flags, err)
		}
	})

	t.Run("existing", func(t *testing.T) {
		t.Parallel()
		p := writeTestFile(t, t.TempDir(), "d.lock", "keep")
		_, closeFD := openTestLock(t, p)
		closeFD()
		checkRegular(t, p, "keep")
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
				writeTestFile(t, outDir, "target.lock", "")
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
		err := readNoBlock(t, p, func() error {
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
	fd1, close1 := openTestLock(t, p)
	fd2, close2 := openTestLock(t, p)
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
			writeTestFile(t, dir, "d.lock", "")
			if tc.pid {
				writeTestFile(t, dir, "d.pid", "1234\n")
			}
			if tc.id {
				writeTestFile(t, dir, "d.id", identityJSON)
			}
			if err := removePIDFiles(pidPath, idPath); err != nil {
				t.Errorf("removePIDFiles: got %v, want nil", err)
			}
			if names := dirNames(t, dir); !cmp.Equal(names, []string{"d.lock"}) {
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
		victim := writeTestFile(t, outDir, "victim", "precious")
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
		if names := dirNames(t, dir); len(names) != 0 {
			t.Errorf("dir: got %q, want empty", names)
		}
		checkRegular(t, victim, "precious")
	})

	t.Run("error", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		pidPath, idPath := filepath.Join(dir, "d.pid"), filepath.Join(dir, "d.id")
		if err := os.Mkdir(pidPath, 0o755); err != nil {
			t.Fatal(err)
		}
		writeTestFile(t, pidPath, "inside", "")
		writeTestFile(t, dir, "d.id", "")
		if err := removePIDFiles(pidPath, idPath); err == nil {
			t.Errorf("removePIDFiles(non-empty dir at pid path): got nil, want an error")
		}
		if _, err := os.Lstat(idPath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("id file: got Lstat %v; want it removed even when the pid file is not", err)
		}
	})
}

// lockBusy reports whether somebody holds the lock at path, through the
// look every controller takes.
func lockBusy(path string) (bool, error) {
	dir, base := filepath.Split(path)
	f := files{dir: dir, name: strings.TrimSuffix(base, ".lock")}
	st, _, err := f.probeLock(false)
	return st == lockHeld, err
}

// TestWriteFileAtomicReadersSeeOneOrTheOther: while records are replaced
// (by exchange and unlink, replaceFile), a reader always finds the file,
// whole, with the old content or the new, and no temp file stays.
func TestWriteFileAtomicReadersSeeOneOrTheOther(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d.id")
	contents := []string{"first record, long enough to be told apart\n", "second\n"}
	if err := writeFileAtomic(path, []byte(contents[0])); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	bad := make(chan string, 1)
	go func() {
		defer close(bad)
		for {
			select {
			case <-done:
				return
			default:
			}
			b, err := os.ReadFile(path)
			if err != nil || (string(b) != contents[0] && string(b) != contents[1]) {
				bad <- fmt.Sprintf("read %q, %v", b, err)
				return
			}
		}
	}()
	for i := range 2000 {
		if err := writeFileAtomic(path, []byte(contents[i%2])); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	if s, ok := <-bad; ok {
		t.Fatalf("a reader saw neither content: %s", s)
	}
	if names := dirNames(t, dir); !cmp.Equal(names, []string{"d.id"}) {
		t.Fatalf("dir: got %q, want [d.id] (no temp file left)", names)
	}
}
