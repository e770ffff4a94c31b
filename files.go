// files.go owns the pid dir: it builds the path of every file of a daemon
// there and does every read, write, lock and unlink of them. The formats
// are in pidfile.go. The pid dir is a protocol between any number of
// controllers (package doc, "The pid dir"); the rules it keeps:
//
//   - every write is a temp file and a rename (or a pwrite on the lock), so
//     a reader sees the old content or the new, never part;
//   - nothing is opened through a symlink, nothing of the wrong type is
//     read (a FIFO planted at a pid file's path never blocks a reader);
//   - a dir or file that another user could have written is refused
//     (ErrUnsafe), so that no file in it can make us signal a process;
//   - a look creates nothing: a read-only pid dir can be inspected.

package launcher

import (
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

// fileKind names one file of a daemon in the pid dir, by its extension. A
// change seen by the dir watch is one of these.
type fileKind uint16

const (
	filePID      fileKind = 1 << iota // <name>.pid: the main pid, for kill $(cat ...)
	fileID                            // <name>.id: the identity record
	fileLock                          // <name>.lock: held by the daemon for life
	fileWant                          // <name>.want: wanted up or down, restart generation
	fileStatus                        // <name>.status: the supervisor's record
	fileDisabled                      // <name>.disabled
	fileSup                           // <name>.sup: the supervision lease
	fileExit                          // <name>.exit: a Func daemon's own exit record
	fileReady                         // <name>.ready: the readiness FIFO (ReadyFD)
	fileNotify                        // <name>.notify: the sd_notify socket
	fileStdin                         // <name>.stdin: the input FIFO
	fileLog                           // <LogDir>/<name>.log (a watch of its own, for rotation)
	fileCgroup                        // the cgroup.events of a KillCgroup daemon (a watch of its own)
)

var fileExts = map[string]fileKind{"pid": filePID, "id": fileID, "lock": fileLock, "want": fileWant,
	"status": fileStatus, "disabled": fileDisabled, "sup": fileSup, "exit": fileExit, "ready": fileReady,
	"notify": fileNotify, "stdin": fileStdin}

// splitFileName splits "web.pid" into "web" and filePID. Names of other
// files (temp files, logs) give kind 0.
func splitFileName(base string) (string, fileKind) {
	i := len(base) - 1
	for i >= 0 && base[i] != '.' {
		i--
	}
	if i <= 0 {
		return "", 0
	}
	return base[:i], fileExts[base[i+1:]]
}

// files are the paths of one daemon's files, made when asked for: kept,
// they took 0.7 KB per daemon (a string each and their headers).
type files struct {
	dir, name, logDir string // the pid dir, the daemon's name, the log dir
}

func newFiles(spec Spec) files {
	return files{dir: spec.PIDDir, name: spec.Name, logDir: spec.LogDir}
}

// path is <dir>/<name>.<ext>.
func (f files) path(ext string) string { return filepath.Join(f.dir, f.name+"."+ext) }

func (f files) pidPath() string      { return f.path("pid") }
func (f files) idPath() string       { return f.path("id") }
func (f files) lockPath() string     { return f.path("lock") }
func (f files) wantPath() string     { return f.path("want") }
func (f files) statusPath() string   { return f.path("status") }
func (f files) disabledPath() string { return f.path("disabled") }
func (f files) supPath() string      { return f.path("sup") }
func (f files) exitPath() string     { return f.path("exit") }
func (f files) readyPath() string    { return f.path("ready") }
func (f files) notifyPath() string   { return f.path("notify") }
func (f files) stdinPath() string    { return f.path("stdin") }
func (f files) logPath() string      { return filepath.Join(f.logDir, f.name+".log") }

// ErrUnsafe: the pid dir, or a file in it, could have been written by
// another user (it is writable by group or others without the sticky bit,
// or owned by somebody else than this user or root), so nothing in it is
// trusted enough to signal a process by.
var ErrUnsafe = errors.New("writable by another user")

// checkDir checks that dir may hold pid files: a dir owned by this user or
// root, not writable by others unless sticky (then each file is checked).
// A missing dir is os.ErrNotExist.
func checkDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return &os.PathError{Op: "open", Path: dir, Err: errors.New("not a directory")}
	}
	if uid := int(st.Uid); uid != os.Geteuid() && uid != 0 {
		return detail(ErrUnsafe, "pid dir %s is owned by uid %d", dir, uid)
	}
	if st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0 {
		return detail(ErrUnsafe, "pid dir %s is writable by group or others (mode %04o)", dir, st.Mode&0o7777)
	}
	return nil
}

// checkOwner checks a file of the pid dir by its stat: owned by this user
// or root, and writable by nobody else.
func checkOwner(st *unix.Stat_t, path string) error {
	if uid := int(st.Uid); uid != os.Geteuid() && uid != 0 {
		return detail(ErrUnsafe, "%s is owned by uid %d", path, uid)
	}
	if st.Mode&0o022 != 0 {
		return detail(ErrUnsafe, "%s is writable by group or others (mode %04o)", path, st.Mode&0o777)
	}
	return nil
}

// ensureDirs makes the pid and log dirs if missing (0755) and checks the
// pid dir. Only an acting controller calls it: a look creates nothing.
func (f *files) ensureDirs() error {
	for _, dir := range []string{f.dir, f.logDir} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	return checkDir(f.dir)
}

// errShape marks a file that exists but cannot be a pid or identity file:
// not a regular file, or too large.
var errShape = errors.New("not a small regular file")

// readSmallFile reads a regular file of at most limit bytes without
// following a symlink in its last component and without blocking on a FIFO.
// It also returns the file's modification time, from the same open file.
// A file another user could have written is ErrUnsafe.
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
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, time.Time{}, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, time.Time{}, fmt.Errorf("%w: %s is a %v", errShape, path, os.FileMode(st.Mode&unix.S_IFMT).Type())
	}
	if err := checkOwner(&st, path); err != nil {
		return nil, time.Time{}, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, time.Time{}, err
	}
	if int64(len(b)) > limit {
		return nil, time.Time{}, fmt.Errorf("%w: %s is larger than %d bytes", errShape, path, limit)
	}
	return b, time.Unix(st.Mtim.Unix()), nil
}

// writeFileAtomic replaces path with data: a new temp file in the same
// directory (O_EXCL|O_NOFOLLOW, so nothing planted is written through),
// then a rename (replaceFile), so a reader sees the old content or the
// new, never part.
// A symlink planted at path is replaced, never followed. Temp files start
// with a dot, which no daemon's file does, so a dir watch ignores them.
//
// There is no fsync: it cost more than the spawn itself (0.5-1 ms each, on
// the start path). What it would guard against is a power loss, after
// which no daemon is running anyway; a record left torn by one is older
// than the boot, and no process proves it (the lock decides).
func writeFileAtomic(path string, data []byte) error {
	return writeAtomicWith(path, func(fd int) error {
		for len(data) > 0 {
			n, err := unix.Write(fd, data)
			if err != nil && !errors.Is(err, unix.EINTR) {
				return err
			}
			data = data[max(n, 0):]
		}
		return nil
	})
}

// writeAtomicWith is writeFileAtomic with the content written by fill
// into the temp file's fd (a copy in the kernel, for a rotated log).
func writeAtomicWith(path string, fill func(fd int) error) error {
	dir, base := filepath.Split(path)
	tmp := filepath.Join(dir, "."+base+".tmp-"+newToken()[:12])
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return &os.PathError{Op: "create", Path: tmp, Err: err}
	}
	err = fill(fd)
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = replaceFile(tmp, path)
	}
	if err != nil {
		unix.Unlink(tmp)
		return err
	}
	return nil
}

// openFile is how a daemon's files are opened: never through a symlink
// in the last component (ErrSymlink), close-on-exec, only if what is
// there is of type typ (unix.S_IFREG, unix.S_IFIFO), and, for the files
// whose content or lock is trusted, only if no other user could have
// written it.
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
	if typ == unix.S_IFREG {
		if err := checkOwner(&st, path); err != nil {
			unix.Close(fd)
			return -1, err
		}
	}
	return fd, nil
}

// readRecords reads <name>.pid and <name>.id. Either may be missing (an
// error wrapping os.ErrNotExist); junk is ErrBadPIDFile or ErrBadIdentity.
func (f *files) readRecords() (pid int, pidErr error, id identity, idErr error) {
	pid, _, pidErr = readPIDFile(f.pidPath())
	id, idErr = readIdentityFile(f.idPath())
	return pid, pidErr, id, idErr
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

// writeRecords writes <name>.id, then <name>.pid.
func (f *files) writeRecords(id identity) error { return writePIDFiles(f.pidPath(), f.idPath(), id) }

// writePIDFiles writes the identity record at idPath, then the pid file.
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

// writeID replaces <name>.id alone (a readiness recorded).
func (f *files) writeID(id identity) error {
	b, err := json.Marshal(id)
	if err != nil {
		return err
	}
	return writeFileAtomic(f.idPath(), append(b, '\n'))
}

// removeRecords removes <name>.pid and <name>.id. The caller holds the lock.
func (f *files) removeRecords() error { return removePIDFiles(f.pidPath(), f.idPath()) }

// removePIDFiles removes two record files; missing files are fine.
func removePIDFiles(pidPath, idPath string) error {
	var errs []error
	for _, p := range []string{pidPath, idPath} {
		if err := unix.Unlink(p); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, &os.PathError{Op: "remove", Path: p, Err: err})
		}
	}
	return errors.Join(errs...)
}

// readWant reads <name>.want; a missing file is the zero want (down,
// generation 0) with a nil error.
func (f *files) readWant() (want, error) {
	b, _, err := readSmallFile(f.wantPath(), 256)
	if errors.Is(err, os.ErrNotExist) {
		return want{}, nil
	}
	if err != nil {
		return want{}, err
	}
	return parseWant(b), nil
}

// writeWant replaces <name>.want.
func (f *files) writeWant(w want) error { return writeFileAtomic(f.wantPath(), w.format()) }

// readStatus reads the supervisor's record; missing is the zero record.
func (f *files) readStatus() (supRecord, error) {
	b, _, err := readSmallFile(f.statusPath(), 64<<10)
	if errors.Is(err, os.ErrNotExist) {
		return supRecord{}, nil
	}
	if err != nil {
		return supRecord{}, err
	}
	var r supRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return supRecord{}, fmt.Errorf("%s: %w", f.statusPath(), err)
	}
	return r, nil
}

// writeStatus replaces the supervisor's record (the lease holder only).
func (f *files) writeStatus(r supRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeFileAtomic(f.statusPath(), append(b, '\n'))
}

// readExit reads a Func daemon's own exit record.
func (f *files) readExit() (exitRecord, error) {
	b, _, err := readSmallFile(f.exitPath(), 1024)
	if err != nil {
		return exitRecord{}, err
	}
	var r exitRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return exitRecord{}, fmt.Errorf("%s: %w", f.exitPath(), err)
	}
	return r, nil
}

// writeExitRecord is how a Func daemon records its own result (Main).
func writeExitRecord(path string, r exitRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// isDisabled reports whether <name>.disabled exists. One planted by
// another user is ErrUnsafe (and counts as disabled: refusing is safe).
func (f *files) isDisabled() (bool, error) {
	var st unix.Stat_t
	err := unix.Lstat(f.disabledPath(), &st)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return true, &os.PathError{Op: "stat", Path: f.disabledPath(), Err: err}
	}
	return true, checkOwner(&st, f.disabledPath())
}

// setDisabled creates or removes <name>.disabled.
func (f *files) setDisabled(on bool) error {
	if !on {
		if err := unix.Unlink(f.disabledPath()); err != nil && !errors.Is(err, unix.ENOENT) {
			return &os.PathError{Op: "remove", Path: f.disabledPath(), Err: err}
		}
		return nil
	}
	if err := f.ensureDirs(); err != nil {
		return err
	}
	fd, err := unix.Open(f.disabledPath(), unix.O_WRONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return &os.PathError{Op: "create", Path: f.disabledPath(), Err: err}
	}
	return unix.Close(fd)
}
