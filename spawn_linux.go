// spawn_linux.go forks and execs one daemon: its own session, only its fds,
// into its cgroup; through the shim when the controller's signals or fds
// must be undone first.

package launcher

import (
	"bytes"
	"encoding/json"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// spawn forks and execs one detached daemon: its own session (so its own
// process group, pgid == pid), only fds 0-3 open, through the re-exec shim
// when signal dispositions, stray fds or the umask must be dealt with
// between fork and exec.
// It returns a handle holding the child's pidfd.
func spawn(r spawnRequest) (*process, error) {
	path, argv, env, cred := r.path, r.argv, r.env, r.cred
	if r.umask != 0 || inheritedSignals() || strayFDs() {
		if !mainCalled.Load() {
			return nil, detail(ErrNoMain, "the re-exec shim resets ignored signals and sets the umask")
		}
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		req := shimRequest{Path: path, Argv: argv, Umask: uint32(r.umask)}
		if r.notify >= 0 {
			req.KeepFD = r.notifyNum
		}
		if cred != nil {
			req.Cred, cred = &shimCred{UID: cred.Uid, GID: cred.Gid, Groups: cred.Groups}, nil
		}
		b, _ := json.Marshal(req)
		path, argv = exe, []string{exe, "launcher-shim"}
		env = append(env[:len(env):len(env)], envShim+"="+string(b))
	}
	pidfd := -1
	attr := &syscall.ProcAttr{
		Dir:   r.dir,
		Env:   env,
		Files: r.files(),
		Sys: &syscall.SysProcAttr{Setsid: true, PidFD: &pidfd, Credential: cred,
			UseCgroupFD: r.cgroup >= 0, CgroupFD: r.cgroup},
	}
	pid, err := syscall.ForkExec(path, argv, attr)
	if err != nil {
		return nil, err
	}
	p := &process{pid: pid, pidfd: pidfd, own: true, group: true}
	spawned.Store(pid, p)
	if st, err := readProcStat(pid); err == nil {
		p.start = st.startTicks
	}
	return p, nil
}

// files lists the child's fds by number; a gap is closed (-1).
func (r spawnRequest) files() []uintptr {
	files := []uintptr{uintptr(r.stdin), uintptr(r.log), uintptr(r.log), uintptr(r.lock)}
	if r.notify >= 0 {
		for len(files) <= r.notifyNum {
			files = append(files, ^uintptr(0))
		}
		files[r.notifyNum] = uintptr(r.notify)
	}
	return files
}

// inheritedSignals reports whether a child would start with a signal
// ignored or blocked (under nohup, say), which only the shim can undo.
//
// Ignored: a Go program's signal dispositions are the runtime's to know,
// and os/signal says which are ignored (those ignored when the program
// started that Go leaves ignored, SIGHUP and SIGINT, and those since
// ignored with signal.Ignore) without a system call. A signal ignored
// behind Go's back (by C code through cgo) is not seen.
//
// Blocked: the mask this process started with, read once at init: Go's
// ForkExec gives every child that mask, whatever the spawning thread's is
// then (a thread of os/signal blocks nearly everything).
func inheritedSignals() bool {
	if startupBlocked {
		return true
	}
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		if signal.Ignored(sig) {
			return true
		}
	}
	return false
}

var startupBlocked = func() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("SigBlk:")); ok {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 16, 64)
			return err == nil && n != 0
		}
	}
	return false
}()

// strayFDs reports whether this process has an fd above 2 that is not
// close-on-exec: the child would inherit it, so the shim must close it.
// Such fds come from the parent (a shell's, a test harness's); Go opens
// every fd of its own close-on-exec. So it looks once, at the first spawn:
// a look costs microseconds per open fd, and a Manager holds one per
// daemon.
var strayFDs = sync.OnceValue(func() bool {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return true
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	self := int(d.Fd())
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil || fd <= 2 || fd == self {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			return true
		}
	}
	return false
})

// openStdin returns the fd a daemon reads as stdin: data in a memfd (so
// neither side ever blocks on a pipe), or /dev/null without data.
func openStdin(data []byte) (int, error) {
	if data == nil {
		return unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	fd, err := unix.MemfdCreate("launcher-stdin", unix.MFD_CLOEXEC)
	if err != nil {
		return openStdinTemp(data)
	}
	f := os.NewFile(uintptr(fd), "stdin")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return -1, err
	}
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return -1, err
	}
	nfd, err := unix.Dup(fd) // keep the fd number ours after f is closed
	f.Close()
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	return nfd, err
}

// openStdinTemp is the fallback for kernels without memfd: an unlinked
// temp file.
func openStdinTemp(data []byte) (int, error) {
	f, err := os.CreateTemp("", "launcher-stdin-")
	if err != nil {
		return -1, err
	}
	os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return -1, err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return -1, err
	}
	fd, err := unix.Dup(int(f.Fd()))
	if err == nil {
		unix.CloseOnExec(fd)
	}
	return fd, err
}
