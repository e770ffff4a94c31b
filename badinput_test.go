//go:build linux

package launcher

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// Junk in a pid file is reported (Status.Problem names the file), never
// signalled, and replaced by the next Start; New only looks and changes
// nothing.
func TestJunkPIDFiles(t *testing.T) {
	t.Parallel()
	for _, content := range []string{"", "abc", "0", "1", "-5", "99999999999", "12 34", "123junk", "123\nx", "\n"} {
		t.Run(strings.ReplaceAll(content, "\n", `\n`), func(t *testing.T) {
			t.Parallel()
			spec := testSpec(t, "bad", "sleep")
			path := filepath.Join(spec.PIDDir, "bad.pid")
			os.WriteFile(path, []byte(content), 0o644)
			os.WriteFile(filepath.Join(spec.PIDDir, "bad.lock"), nil, 0o644)
			d := newDaemon(t, spec)
			st := d.Status()
			if st.State != Stopped || !strings.Contains(st.Problem, path) {
				t.Fatalf("status %+v, want stopped with a problem naming %s", st, path)
			}
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Fatalf("New changed the pid file to %q", b)
			}
			if err := d.Start(nil); err != nil {
				t.Fatalf("Start over a junk pid file: %v", err)
			}
			if b, _ := os.ReadFile(path); string(b) != strconv.Itoa(d.PID())+"\n" {
				t.Fatalf("pid file after Start: %q, want %d", b, d.PID())
			}
			if st := d.Status(); st.Problem != "" {
				t.Fatalf("problem after Start: %q", st.Problem)
			}
		})
	}
}

func TestNewRejectsBadSpecs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	ok := Spec{Name: "x", Command: []string{"true"}, PIDDir: dir + "/run", LogDir: dir + "/log"}
	os.Mkdir(dir+"/open", 0o775)
	os.Chmod(dir+"/open", 0o775)
	for _, tc := range []struct {
		name   string
		change func(*Spec)
		want   error
		text   string
	}{
		{"slash", func(s *Spec) { s.Name = "a/b" }, ErrBadName, `"a/b"`},
		{"dotdot", func(s *Spec) { s.Name = ".." }, ErrBadName, `".."`},
		{"dotdot-path", func(s *Spec) { s.Name = "../etc" }, ErrBadName, `"../etc"`},
		{"empty", func(s *Spec) { s.Name = "" }, ErrBadName, `""`},
		{"no-program", func(s *Spec) { s.Command = nil }, ErrBadSpec, "new x: bad spec: neither"},
		{"both", func(s *Spec) { s.Func = "sleep" }, ErrBadSpec, "both"},
		{"unknown-func", func(s *Spec) { s.Command, s.Func = nil, "nope" }, ErrBadSpec, `"nope"`},
		{"bad-env", func(s *Spec) { s.Env = []string{"NOEQUALS"} }, ErrBadSpec, "NOEQUALS"},
		{"unknown-user", func(s *Spec) { s.User = "no-such-user-xyz" }, ErrBadSpec, "no-such-user-xyz"},
		// getent took these for options and answered with root's entry.
		{"option-user", func(s *Spec) { s.User = "--" }, ErrBadSpec, `user "--": unknown`},
		{"option-group", func(s *Spec) { s.Group = "-i" }, ErrBadSpec, `group "-i": unknown`},
		{"pid-dir-under-file", func(s *Spec) { s.PIDDir = file + "/run" }, syscall.ENOTDIR, "new x:"},
		{"pid-dir-group-writable", func(s *Spec) { s.PIDDir = dir + "/open" }, ErrUnsafe, dir + "/open"},
		// New only looks: dirs that cannot be made fail at Start.
		{"log-dir-under-file", func(s *Spec) { s.LogDir = file + "/log" }, syscall.ENOTDIR, "start x:"},
		{"pid-dir-readonly-fs", func(s *Spec) { s.PIDDir = "/proc/launcher-test" }, nil, "start x:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := ok
			tc.change(&spec)
			d, err := New(spec)
			if err == nil {
				err = d.Start(nil)
				d.Close()
			}
			if err == nil {
				t.Fatal("New and Start accepted it")
			}
			if (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("New = %v, want %v containing %q", err, tc.want, tc.text)
			}
		})
	}
}

// A symlink planted at one of the daemon's files is never written through.
func TestSymlinkNeverWrittenThrough(t *testing.T) {
	t.Parallel()
	for _, ext := range []string{".pid", ".id", ".lock", ".log"} {
		t.Run(ext, func(t *testing.T) {
			t.Parallel()
			spec := testSpec(t, "sym", "sleep")
			os.MkdirAll(spec.PIDDir, 0o755)
			os.MkdirAll(spec.LogDir, 0o755)
			outside := filepath.Join(t.TempDir(), "outside")
			os.WriteFile(outside, []byte("precious\n"), 0o644)
			dir := spec.PIDDir
			if ext == ".log" {
				dir = spec.LogDir
			}
			link := filepath.Join(dir, "sym"+ext)
			if err := os.Symlink(outside, link); err != nil {
				t.Fatal(err)
			}
			d, err := New(spec)
			if err == nil {
				t.Cleanup(func() { cleanupDaemon(t, d) })
				err = d.Start(nil)
			}
			if b, _ := os.ReadFile(outside); string(b) != "precious\n" {
				t.Fatalf("written through the symlink: %q", b)
			}
			fi, lerr := os.Lstat(link)
			switch {
			case err != nil:
				if !errors.Is(err, ErrSymlink) || !strings.Contains(err.Error(), "sym") {
					t.Fatalf("error %v, want ErrSymlink naming the daemon", err)
				}
			case lerr != nil || fi.Mode()&os.ModeSymlink != 0:
				t.Fatalf("Start succeeded but %s is still a symlink", link)
			}
		})
	}
}

// The guards in front of every group signal.
func TestNeverSignalGroupOneOrOwn(t *testing.T) {
	t.Parallel()
	for _, pgid := range []int{-1, 0, 1, unix.Getpgrp()} {
		if err := signalGroupSafe(pgid, 0); err == nil {
			t.Errorf("signalGroupSafe(%d) allowed", pgid)
		}
	}
	p := &process{pid: 1, pidfd: -1}
	if err := p.signal(0); err == nil {
		t.Error("signal to pid 1 allowed")
	}
	if _, _, err := openProcess(1); err == nil {
		t.Error("openProcess(1) succeeded")
	}
}

func TestRunAsUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch users")
	}
	spec := testSpec(t, "nobody", "")
	spec.Func, spec.User = "", "nobody"
	spec.Command = []string{"sh", "-c", "echo uid=$(id -u); exec sleep 300"}
	d := newDaemon(t, spec)
	d.ReadLog()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	log := waitLog(t, d, "uid=")
	if !strings.Contains(log, "uid=65534") {
		t.Fatalf("log %q, want uid=65534", log)
	}
}

// A daemon run as a user gets that user's supplementary groups from the
// user database, through ForkExec and through the shim alike.
func TestRunAsUserGroups(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch users")
	}
	u, err := user.Lookup("postgres") // on this machine, a member of ssl-cert
	if err != nil {
		t.Skip("no user with supplementary groups here: ", err)
	}
	ids, _ := u.GroupIds()
	var extra []string
	for _, id := range ids {
		if id != u.Gid {
			extra = append(extra, id)
		}
	}
	if len(extra) == 0 {
		t.Skip("user postgres has no supplementary group here")
	}
	for _, shim := range []bool{false, true} {
		t.Run(fmt.Sprint("shim=", shim), func(t *testing.T) {
			t.Parallel()
			spec := testSpec(t, "groups", "")
			spec.User = "postgres"
			if shim {
				spec.Umask = 0o022 // only the shim sets a umask
			}
			spec.Command = []string{"sh", "-c", "echo groups=$(id -G); exec sleep 300"}
			d := newDaemon(t, spec)
			d.ReadLog()
			if err := d.Start(nil); err != nil {
				t.Fatal(err)
			}
			log := waitLog(t, d, "groups=")
			got := strings.Fields(strings.SplitN(log[strings.Index(log, "groups=")+7:], "\n", 2)[0])
			for _, g := range append(extra, u.Gid) {
				if !slices.Contains(got, g) {
					t.Errorf("groups %v, want %v among them", got, append(extra, u.Gid))
				}
			}
		})
	}
}

func TestReadLogOffsets(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "logger", "sleep")
	d := newDaemon(t, spec)
	os.WriteFile(d.LogFile(), []byte("old line\n"), 0o644)
	if b, err := d.ReadLog(); err != nil || b != nil {
		t.Fatalf("first ReadLog = %q, %v; want nothing (offset set to the end)", b, err)
	}
	f, _ := os.OpenFile(d.LogFile(), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("new line\n")
	f.Close()
	if b, _ := d.ReadLog(); string(b) != "new line\n" {
		t.Fatalf("ReadLog = %q, want the appended line", b)
	}
	if b, _ := d.ReadLog(); len(b) != 0 {
		t.Fatalf("ReadLog again = %q, want nothing", b)
	}
	os.WriteFile(d.LogFile(), []byte("after truncation\n"), 0o644)
	if b, _ := d.ReadLog(); string(b) != "after truncation\n" {
		t.Fatalf("ReadLog after truncation = %q", b)
	}
}

// A working dir that is not there is named as what is missing, not the
// program (which exists).
func TestStartMissingDirNamed(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "nodir", "")
	spec.Command, spec.Dir = []string{"sleep", "300"}, filepath.Join(t.TempDir(), "gone")
	d := newDaemon(t, spec)
	err := d.Start(nil)
	if !errors.Is(err, ErrExec) || !strings.Contains(err.Error(), spec.Dir) {
		t.Fatalf("Start with a missing dir: %v, want ErrExec naming %s", err, spec.Dir)
	}
}

// Files that name a process that has ended are stale, and say so: not
// "not the daemon's", which reads as a forgery.
func TestStaleFilesSaySo(t *testing.T) {
	t.Parallel()
	spec := testSpec(t, "ended", "")
	spec.Command = []string{"sleep", "300"}
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spec.PIDDir, "ended.pid"), []byte(strconv.Itoa(c.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spec.PIDDir, "ended.lock"), nil, 0o644); err != nil { // it ran once
		t.Fatal(err)
	}
	if p := newDaemon(t, spec).Status().Problem; !strings.Contains(p, "is gone") {
		t.Errorf("problem %q, want it to say the pid is gone", p)
	}
}
