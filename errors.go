// errors.go holds the package's error type and its sentinels: every error
// a call returns is an *Error naming the operation and the daemon.

package launcher

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error a Daemon returns is an *Error that wraps one of
// these (or a system error), so callers branch with errors.Is.
var (
	// ErrBadName: a daemon name is empty, starts with a dot, or holds a
	// character outside [A-Za-z0-9._-].
	ErrBadName = errors.New("bad daemon name")
	// ErrBadSpec: a Spec is inconsistent (both or neither of Command and
	// Func, an unknown Func, a user that does not exist, ...).
	ErrBadSpec = errors.New("bad spec")
	// ErrBadPIDFile: a pid file holds anything but a positive decimal pid
	// greater than 1 and a newline, or is not a regular file.
	ErrBadPIDFile = errors.New("bad pid file")
	// ErrBadIdentity: an identity record (<name>.id) cannot be parsed.
	ErrBadIdentity = errors.New("bad identity record")
	// ErrSymlink: one of the daemon's files is a symbolic link; launcher
	// never writes or locks through one.
	ErrSymlink = errors.New("file is a symbolic link")
	// ErrBusy: another controller holds the daemon's lock and has not (yet)
	// written a pid file: it is starting the daemon right now. Try later.
	ErrBusy = errors.New("daemon is locked by another controller")
	// ErrDisabled: the daemon is disabled (<name>.disabled exists).
	ErrDisabled = errors.New("daemon is disabled")
	// ErrZombie: the daemon's main process has exited but processes it
	// left behind are still alive; stop them first.
	ErrZombie = errors.New("daemon has leftover processes")
	// ErrNotRunning: the operation needs a live process and there is none.
	ErrNotRunning = errors.New("daemon is not running")
	// ErrExec: the command could not be executed (not found, not
	// executable, bad directory, not permitted).
	ErrExec = errors.New("cannot execute command")
	// ErrNoMain: the program did not call launcher.Main first thing in
	// main, which Func daemons and the re-exec shim need.
	ErrNoMain = errors.New("launcher.Main was not called")
	// ErrNoCgroup: KillCgroup, and no cgroup v2 that this process may use
	// was found (the error says what is missing).
	ErrNoCgroup = errors.New("no usable cgroup v2")
	// ErrNoController: a limit (MemoryMax, CPUMax, PidsMax) needs a cgroup
	// controller that the base cannot give its children. It is not
	// ErrNoCgroup, so that a caller that falls back to process groups when
	// there is no cgroup never drops a limit silently.
	ErrNoController = errors.New("cgroup controller not available")
	// ErrUnknownDaemon: a Manager has no daemon of that name.
	ErrUnknownDaemon = errors.New("no such daemon")
	// ErrUnsupported: the operation is not available on this platform.
	ErrUnsupported = errors.New("not supported on this platform")
	// ErrClosed: the Daemon, or the Manager it belongs to, was closed, or
	// the Manager removed it (Remove): it takes no more requests. The
	// process runs on; a new Daemon or Manager adopts it.
	ErrClosed = errors.New("closed")
)

// Error is the error type of this package: the operation, the daemon it was
// applied to, and what went wrong.
type Error struct {
	Op     string // "new", "start", "stop", "signal", "poll", ...
	Daemon string // the daemon's name; may be empty when the name itself is bad
	Err    error  // a sentinel above, a system error, or both joined
}

// Error formats the error as "launcher: OP DAEMON: cause".
func (e *Error) Error() string {
	if e.Daemon == "" {
		return fmt.Sprintf("launcher: %s: %v", e.Op, e.Err)
	}
	return fmt.Sprintf("launcher: %s %s: %v", e.Op, e.Daemon, e.Err)
}

// Unwrap returns the wrapped cause.
func (e *Error) Unwrap() error { return e.Err }

// detail wraps a sentinel with more text while keeping errors.Is working.
func detail(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}

// supervisorError is a failed start that another controller (the daemon's
// supervisor) made, as its shared record says: its words, and errors.Is
// ErrExec when they say so.
type supervisorError struct {
	msg string
	pid int
}

func (e supervisorError) Error() string {
	return fmt.Sprintf("%s (in its supervisor, pid %d)", e.msg, e.pid)
}

func (e supervisorError) Is(target error) bool {
	return target == ErrExec && strings.HasPrefix(e.msg, ErrExec.Error())
}

// Errors returns every *Error in err, in order: the one err is or wraps,
// or, for the joined error of a call on many daemons (Manager.Start, Stop,
// ...), one per daemon that failed. Each names its daemon (Error.Daemon).
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *Error:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, e := range e.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap()) // a joined error wrapped once more ("outer: %w")
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}
