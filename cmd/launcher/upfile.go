// upfile.go: the .up.<pid> record each up keeps in the pid dir, by which
// `launcher reload` finds it and reads its answer.

package main

// The up record: how `launcher reload` finds the running `up`s of a pid dir
// and learns what each applied.
//
// Every `up` writes <pid_dir>/.up.<pid> (JSON, temp file + rename) when it
// starts and after each reload, and removes it when it ends. A leading dot
// keeps it out of the library's way: its dir watch and its daemon names
// ignore such files. The record says who wrote it (pid, the process's start
// time, boot id and pid namespace: a pid alone could have been reused), which
// config it runs, and the outcome of its last reload. `launcher reload`
// believes a record only in a pid dir that only we (or root) can write, and
// only when the process it names is alive with that start time.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/proclauncher/launcher"
)

// upRecord is the content of <pid_dir>/.up.<pid>.
type upRecord struct {
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks"` // /proc/<pid>/stat field 22
	BootID     string `json:"boot_id"`
	PIDNS      string `json:"pidns"` // the pid namespace the pid is in
	// Config is the config file's absolute path ("" for the built-in demo).
	Config string `json:"config"`
	// Reloads counts the reloads done; ReadAt is when (CLOCK_BOOTTIME, in
	// ns: one clock for every process of the machine, never set back) the
	// config now applied was read. A reload asked at t is done when ReadAt
	// >= t.
	Reloads int   `json:"reloads"`
	ReadAt  int64 `json:"read_at_ns"`
	// Lines say what the last reload did ("web: changed, restarted"),
	// Unchanged which daemons it left alone, Error why it changed nothing.
	Lines     []string `json:"lines,omitempty"`
	Unchanged []string `json:"unchanged,omitempty"` // names
	Error     string   `json:"error,omitempty"`
}

const upRecordPrefix = ".up."

func upRecordPath(dir string, pid int) string {
	return filepath.Join(dir, upRecordPrefix+strconv.Itoa(pid))
}

// pidDirPath is the pid dir the config's daemons use.
func (c *config) pidDirPath() string {
	if c.pidDir != "" {
		return c.pidDir
	}
	return launcher.DefaultPIDDir()
}

// configID is what a record says of the config: its absolute path, "" for
// the built-in demo.
func configID(c *config) string {
	if c.builtin {
		return ""
	}
	abs, err := filepath.Abs(c.file)
	if err != nil {
		return c.file
	}
	return abs
}

// sameConfig reports whether a record's config is c's file (by identity,
// so a symlink or another spelling of the path is the same file).
func sameConfig(rec upRecord, c *config) bool {
	id := configID(c)
	if rec.Config == "" || id == "" {
		return rec.Config == id
	}
	a, err1 := os.Stat(rec.Config)
	b, err2 := os.Stat(id)
	if err1 != nil || err2 != nil {
		return rec.Config == id
	}
	return os.SameFile(a, b)
}

// newUpRecord describes this process.
func newUpRecord(c *config) (upRecord, error) {
	self := os.Getpid()
	start, err := processStart(self)
	if err != nil {
		return upRecord{}, err
	}
	return upRecord{PID: self, StartTicks: start, BootID: bootID(), PIDNS: pidNamespace(), Config: configID(c), ReadAt: bootClock()}, nil
}

// writeUpRecord replaces dir/.up.<pid>: a temp file renamed over it, so a
// reader sees the old record or the new one, whole.
func writeUpRecord(dir string, rec upRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	path := upRecordPath(dir, rec.PID)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// errUnsafe: a record, or its dir, that someone else could have written.
var errUnsafe = errors.New("could have been written by another user")

// checkSafe refuses a pid dir or record that another user could have
// written, as the library refuses such a pid dir and its files: a record
// names a process to signal.
func checkSafe(path string, dir bool) error {
	stat := os.Lstat // a record is never a symlink
	if dir {
		stat = os.Stat // the library follows a symlinked pid dir too
	}
	fi, err := stat(path)
	if err != nil {
		return err
	}
	uid, ok := ownerOf(fi)
	mode := fi.Mode()
	switch {
	case !ok:
		return nil // no owners on this system: nothing to check
	case uid != uint32(os.Geteuid()) && uid != 0:
		return fmt.Errorf("%s: owned by uid %d: %w", path, uid, errUnsafe)
	case dir && !mode.IsDir(), !dir && !mode.IsRegular():
		return fmt.Errorf("%s: not a plain %s: %w", path, map[bool]string{true: "dir", false: "file"}[dir], errUnsafe)
	case mode.Perm()&0o022 != 0 && !(dir && mode&fs.ModeSticky != 0):
		return fmt.Errorf("%s: writable by group or others: %w", path, errUnsafe)
	}
	return nil
}

// ownerOf returns the uid that owns fi's file.
func ownerOf(fi fs.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}

// readUpRecord reads and checks one record.
func readUpRecord(path string) (upRecord, error) {
	var rec upRecord
	if err := checkSafe(path, false); err != nil {
		return rec, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("%s: %w", path, err)
	}
	if rec.PID <= 0 {
		return rec, fmt.Errorf("%s: bad pid %d", path, rec.PID)
	}
	return rec, nil
}

// upRecords reads every record in dir, oldest pid first; what cannot be
// read or trusted is in problems.
func upRecords(dir string) (recs []upRecord, problems []error) {
	if err := checkSafe(dir, true); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, []error{err}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, []error{err}
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, upRecordPrefix) || strings.HasSuffix(name, ".tmp") {
			continue
		}
		if _, err := strconv.Atoi(strings.TrimPrefix(name, upRecordPrefix)); err != nil {
			continue
		}
		rec, err := readUpRecord(filepath.Join(dir, name))
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) { // gone meanwhile: its up ended
				problems = append(problems, err)
			}
			continue
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b upRecord) int { return a.PID - b.PID })
	return recs, problems
}

// local reports whether rec's pid means something here: this boot, this
// pid namespace.
func (rec upRecord) local() bool {
	return rec.BootID == bootID() && rec.PIDNS == pidNamespace()
}

// alive reports whether the up that wrote rec still runs: a process with
// its pid and start time, in this boot and pid namespace.
func (rec upRecord) alive() bool {
	if !rec.local() {
		return false
	}
	start, err := processStart(rec.PID)
	return err == nil && start == rec.StartTicks
}

// removeStaleUpRecords removes the records of ups that are gone (killed
// before they could remove theirs): of an earlier boot, or of this pid
// namespace and no longer alive. Another namespace's are not ours to judge.
func removeStaleUpRecords(dir string) {
	recs, _ := upRecords(dir)
	for _, rec := range recs {
		if rec.BootID != bootID() || rec.PIDNS == pidNamespace() && !rec.alive() {
			os.Remove(upRecordPath(dir, rec.PID))
		}
	}
}

// waitForReload is how long `launcher reload` waits by default.
const waitForReload = 30 * time.Second

// writeRecord writes <pid_dir>/.up.<pid>, by which `launcher reload` finds
// this up; it says so when it cannot (SIGHUP works all the same).
func (u *upRun) writeRecord() {
	u.pidDir = u.c.cfg.pidDirPath()
	err := os.MkdirAll(u.pidDir, 0o755)
	if err == nil {
		removeStaleUpRecords(u.pidDir)
		u.rec, err = newUpRecord(u.c.cfg)
	}
	if err == nil {
		err = writeUpRecord(u.pidDir, u.rec)
	}
	if err != nil {
		fmt.Fprintf(u.c.stderr, "launcher: \"launcher reload\" will not find this up (send it SIGHUP): %v\n", err)
		return
	}
	u.recOK = true
}

func (u *upRun) updateRecord() {
	if !u.recOK {
		return
	}
	if err := writeUpRecord(u.pidDir, u.rec); err != nil {
		fmt.Fprintf(u.c.stderr, "launcher: %v\n", err)
	}
}

func (u *upRun) removeRecord() {
	if u.recOK {
		os.Remove(upRecordPath(u.pidDir, u.rec.PID))
	}
}
