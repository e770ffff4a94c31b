// pidfile.go holds the formats of the files in the pid dir and their
// strict parsers; files.go reads and writes them.

package launcher

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
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
// started from any later process that happens to get the same pid, and what
// a later controller needs to adopt it. It is a cache, not a proof: a
// process counts as the daemon only if it holds the daemon's lock (or, for
// one that closed its inherited fds, matches this record and leads its own
// session).
type identity struct {
	PID        int       `json:"pid"`
	StartTicks uint64    `json:"start_ticks"` // field 22 of /proc/<pid>/stat
	BootID     string    `json:"boot_id"`
	PIDNS      uint64    `json:"pid_ns"`  // inode of /proc/self/ns/pid of the controller
	LockFD     int       `json:"lock_fd"` // the fd number at which the daemon holds its lock
	Started    time.Time `json:"started"`
	Ready      time.Time `json:"ready,omitzero"` // when it said it was ready (Spec.Ready), if it did
	Command    []string  `json:"command,omitempty"`
	Func       string    `json:"func,omitempty"`
	Token      string    `json:"token"`
}

// lockFD is the fd number at which every daemon holds its lock.
const lockFD = 3

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
	randomFill(b[:])
	return hex.EncodeToString(b[:])
}

// want is <name>.want: what the daemon is wanted to be, written by any
// controller that asks (and by a supervisor acting on its own), read by
// every controller. Gen goes up by one with each restart asked for, so a
// supervisor tells a restart request from a start of a running daemon.
type want struct {
	Up   bool
	Gen  uint64
	Kill bool // down by a force-stop: a supervisor kills it too, never SIGTERM
}

func (w want) format() []byte {
	s := "down"
	if w.Up {
		s = "up"
	}
	s += "\ngen " + strconv.FormatUint(w.Gen, 10) + "\n"
	if w.Kill && !w.Up {
		s += "kill\n"
	}
	return []byte(s)
}

// parseWant reads "up|down\ngen N\n[kill\n]"; unknown lines are ignored,
// junk is down, generation 0.
func parseWant(b []byte) want {
	var w want
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if i == 0 {
			w.Up = line == "up"
			continue
		}
		if n, ok := strings.CutPrefix(line, "gen "); ok {
			w.Gen, _ = strconv.ParseUint(n, 10, 64)
		}
		if line == "kill" && !w.Up {
			w.Kill = true
		}
	}
	return w
}

// supRecord is <name>.status: what the supervisor (the lease holder) knows
// of the daemon, so that every controller shows the same. Only the lease
// holder writes it.
type supRecord struct {
	Supervisor  int           `json:"supervisor,omitempty"` // pid of the lease holder
	Restarts    int           `json:"restarts"`             // restarts made by supervisors in all
	Recent      []time.Time   `json:"recent,omitempty"`     // restarts within RestartWindow
	Delay       time.Duration `json:"delay,omitempty"`      // the backoff in force
	GaveUp      bool          `json:"gave_up,omitempty"`
	NextRestart time.Time     `json:"next_restart,omitzero"`
	LastExit    *ExitStatus   `json:"last_exit,omitempty"`
	LastReason  Reason        `json:"last_reason,omitempty"`
	LastError   string        `json:"last_error,omitempty"` // why the last start failed (start-failed, no process)
	Since       time.Time     `json:"since,omitzero"`
}

// exitRecord is <name>.exit: a Func daemon's own result, written by Main
// just before the process exits, so that a controller that is not its
// parent learns its status.
type exitRecord struct {
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks"`
	Code       int    `json:"code"`
}

// spawner is the line a spawning controller writes into the lock before
// the spawn: who it is and the spawn's token.
type spawner struct {
	PID   int
	Token string
}

// spawnerSize is the fixed size of the line, so that one pwrite replaces
// the last spawner's whole.
const spawnerSize = 64

func (s spawner) format() []byte {
	b := []byte(fmt.Sprintf("spawner %d token %s", s.PID, s.Token))
	for len(b) < spawnerSize-1 {
		b = append(b, ' ')
	}
	return append(b[:spawnerSize-1], '\n')
}

func parseSpawner(b []byte) (spawner, error) {
	var s spawner
	f := strings.Fields(string(b))
	if len(f) < 4 || f[0] != "spawner" || f[2] != "token" {
		return s, detail(ErrBadIdentity, "lock holds %q, not a spawner line", clip(b))
	}
	pid, err := strconv.Atoi(f[1])
	if err != nil || pid <= 0 {
		return s, detail(ErrBadIdentity, "lock holds %q, not a spawner line", clip(b))
	}
	return spawner{PID: pid, Token: f[3]}, nil
}
