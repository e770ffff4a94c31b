package launcher

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// maxPID is the largest pid Linux hands out (PID_MAX_LIMIT, 2^22). A pid
// file naming a larger number is junk, not a process.
const maxPID = 1 << 22

// ValidName reports whether name can name a daemon: one or more of
// [A-Za-z0-9._-], not starting with a dot (so it is never "." or "..", never
// hidden, and never holds a path separator).
func ValidName(name string) bool {
	if name == "" || name[0] == '.' || len(name) > 200 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// parsePID reads a pid file's content strictly: a decimal pid greater than 1
// and at most maxPID, optionally followed by one newline. Anything else is
// an error (never a 0 that could later reach kill).
func parsePID(b []byte) (int, error) {
	digits := bytes.TrimSuffix(b, []byte("\n"))
	if len(digits) == 0 || len(digits) > 7 || digits[0] == '0' {
		return 0, detail(ErrBadPIDFile, "%q is not a pid", clip(b))
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, detail(ErrBadPIDFile, "%q is not a pid", clip(b))
		}
		n = n*10 + int(c-'0')
	}
	if n <= 1 || n > maxPID {
		return 0, detail(ErrBadPIDFile, "pid %d is out of range", n)
	}
	return n, nil
}

// clip keeps error messages short when a file holds junk.
func clip(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "..."
	}
	return string(b)
}

// identity is the record in <name>.id: enough to tell the process we
// started from any later process that happens to get the same pid.
type identity struct {
	PID        int       `json:"pid"`
	StartTicks uint64    `json:"start_ticks"` // field 22 of /proc/<pid>/stat
	BootID     string    `json:"boot_id"`
	PIDNS      uint64    `json:"pid_ns"` // inode of /proc/self/ns/pid of the controller
	Started    time.Time `json:"started"`
	Command    []string  `json:"command,omitempty"`
	Func       string    `json:"func,omitempty"`
	Token      string    `json:"token"`
}

func parseIdentity(b []byte) (identity, error) {
	var id identity
	if err := json.Unmarshal(b, &id); err != nil {
		return identity{}, detail(ErrBadIdentity, "%v", err)
	}
	if id.PID <= 1 || id.PID > maxPID {
		return identity{}, detail(ErrBadIdentity, "pid %d is out of range", id.PID)
	}
	if id.StartTicks == 0 {
		return identity{}, detail(ErrBadIdentity, "no start time")
	}
	return id, nil
}

// newToken returns an unguessable token that marks one spawn.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

// errShape marks a file that exists but cannot be a pid or identity file:
// not a regular file, or too large.
var errShape = errors.New("not a small regular file")

// readSmallFile reads a regular file of at most limit bytes without
// following a symlink in its last component and without blocking on a FIFO.
// It also returns the file's modification time, from the same open file.
func readSmallFile(path string, limit int64) ([]byte, time.Time, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, time.Time{}, fmt.Errorf("%w: %s", ErrSymlink, path)
		}
		return nil, time.Time{}, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	if !st.Mode().IsRegular() {
		return nil, time.Time{}, fmt.Errorf("%w: %s is a %v", errShape, path, st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, time.Time{}, err
	}
	if int64(len(b)) > limit {
		return nil, time.Time{}, fmt.Errorf("%w: %s is larger than %d bytes", errShape, path, limit)
	}
	return b, st.ModTime(), nil
}

// readPIDFile returns the pid in path and the file's modification time.
// Junk is ErrBadPIDFile; a file that cannot be opened keeps its own error.
func readPIDFile(path string) (int, time.Time, error) {
	b, mtime, err := readSmallFile(path, 64)
	if errors.Is(err, errShape) {
		return 0, time.Time{}, fmt.Errorf("%w: %v", ErrBadPIDFile, err)
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	pid, err := parsePID(b)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("%s: %w", path, err)
	}
	return pid, mtime, nil
}

func readIdentityFile(path string) (identity, error) {
	b, _, err := readSmallFile(path, 64<<10)
	if errors.Is(err, errShape) {
		return identity{}, fmt.Errorf("%w: %v", ErrBadIdentity, err)
	}
	if err != nil {
		return identity{}, err
	}
	id, err := parseIdentity(b)
	if err != nil {
		return identity{}, fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}

// writeFileAtomic replaces path with data: a new temp file in the same
// directory (O_EXCL|O_NOFOLLOW, so nothing planted is written through),
// then a rename, so a reader sees the old content or the new, never part.
// A symlink planted at path is replaced, never followed.
//
// There is no fsync: it cost more than the spawn itself (0.5-1 ms each, on
// the start path). What it would guard against is a power loss, after
// which no daemon is running anyway; a pid file left torn by one is older
// than the boot, and findRunning treats any such file as stale.
func writeFileAtomic(path string, data []byte) error {
	dir, base := filepath.Split(path)
	tmp := filepath.Join(dir, "."+base+".tmp-"+newToken()[:12])
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return &os.PathError{Op: "create", Path: tmp, Err: err}
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// writePIDFiles writes <name>.pid and <name>.id.
func writePIDFiles(pidPath, idPath string, id identity) error {
	b, err := json.Marshal(id)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(idPath, append(b, '\n')); err != nil {
		return err
	}
	return writeFileAtomic(pidPath, []byte(strconv.Itoa(id.PID)+"\n"))
}

// removePIDFiles removes <name>.pid and <name>.id; missing files are fine.
// The caller holds the lock.
func removePIDFiles(pidPath, idPath string) error {
	var errs []error
	for _, p := range []string{pidPath, idPath} {
		if err := unix.Unlink(p); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, &os.PathError{Op: "remove", Path: p, Err: err})
		}
	}
	return errors.Join(errs...)
}

// openFile is how a daemon's files are opened: never through a symlink
// in the last component (ErrSymlink), close-on-exec, and only if what is
// there is of type typ (unix.S_IFREG, unix.S_IFIFO).
func openFile(path string, flags int, perm uint32, typ uint32) (int, error) {
	fd, err := unix.Open(path, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return -1, detail(ErrSymlink, "%s", path)
		}
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || uint32(st.Mode)&unix.S_IFMT != typ {
		unix.Close(fd)
		want := "a regular file"
		if typ == unix.S_IFIFO {
			want = "a FIFO"
		}
		return -1, &os.PathError{Op: "open", Path: path, Err: errors.New("not " + want)}
	}
	return fd, nil
}

// openLock opens (creating it if needed) the stable lock file. The fd is
// close-on-exec; the spawn passes it on explicitly.
func openLock(path string) (int, error) {
	return openFile(path, unix.O_RDWR|unix.O_CREAT|unix.O_NONBLOCK, 0o644, unix.S_IFREG)
}

// tryLock takes an exclusive flock without waiting. It reports false when
// somebody else (a daemon that inherited the lock fd, or another
// controller) holds it.
func tryLock(fd int) (bool, error) {
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		case errors.Is(err, unix.EINTR):
			continue
		default:
			return false, err
		}
	}
}

// releaseLock drops the lock and closes fd. The explicit unlock matters:
// a child forked meanwhile by another goroutine (os/exec, another spawn)
// holds a reference to the same open file description until it execs, and
// a plain close would leave the lock held through that reference.
func releaseLock(fd int) {
	unix.Flock(fd, unix.LOCK_UN)
	unix.Close(fd)
}

// lockBusy reports whether somebody holds the lock at path, taking and
// dropping it at once when it is free.
func lockBusy(path string) (bool, error) {
	fd, err := openLock(path)
	if err != nil {
		return false, err
	}
	defer releaseLock(fd)
	got, err := tryLock(fd)
	return !got, err
}
