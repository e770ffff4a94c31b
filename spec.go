// spec.go is a daemon's description: Spec, its defaults, and the checks
// that refuse one that cannot work.

package launcher

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/proclauncher/launcher/internal/userdb"
)

// KillMode says which processes Stop and ForceStop signal.
type KillMode uint8

const (
	// KillGroup (the default) signals the daemon's whole process group, so
	// children it started go too; the daemon counts as gone only when the
	// group is empty.
	KillGroup KillMode = iota
	// KillProcess signals the main process only; processes it leaves
	// behind are its own business, unless they hold its lock (they
	// inherit it): then the daemon is a Zombie until they exit, and Stop
	// or ForceStop of the Zombie signals its process group.
	KillProcess
	// KillCgroup runs the daemon in a cgroup v2 of its own,
	// <base>/<name>@<key> (see CgroupBase; key is a hash of the pid dir, so
	// that one name in two pid dirs is two daemons with two cgroups), which
	// it is spawned straight into: nothing it forks
	// escapes it, whatever it does to its session. Stop signals every
	// process in it once, StopTimeout ends them all with cgroup.kill, and
	// the daemon is gone when the cgroup is empty (then removed). Status
	// reports the whole tree's CPU time, memory and processes, and the
	// limits MemoryMax, CPUMax and PidsMax apply. Without a usable cgroup
	// v2, New fails with ErrNoCgroup: there is no silent fallback.
	KillCgroup
)

// Spec describes one daemon. It is a plain struct: the zero value of every
// field but Name and one of Command or Func has a useful default, listed
// with the field.
type Spec struct {
	// Name names the daemon and its files: one or more of [A-Za-z0-9._-],
	// not starting with a dot. Required.
	Name string

	// Command is the program and its arguments. Command[0] without a slash
	// is looked up in the controller's PATH. Exactly one of Command and
	// Func must be set.
	Command []string
	// Func names a function registered with Register; the daemon is a
	// re-exec of this program (os.Executable) that runs it. The program
	// must call Main first thing in main.
	Func string

	// PIDDir holds <name>.pid, .id, .lock and .disabled. Default: for root
	// /run/launcher, for other users $XDG_STATE_HOME/launcher/run
	// ($HOME/.local/state/launcher/run). Created (0755) when missing.
	PIDDir string
	// LogDir holds <name>.log, where the daemon's stdout and stderr go.
	// Default: for root /var/log/launcher, for other users
	// $XDG_STATE_HOME/launcher/log. Created (0755) when missing.
	LogDir string

	// Dir is the daemon's working directory. Default: the controller's.
	Dir string
	// Env holds KEY=value pairs added to the controller's environment;
	// where a key repeats, the last one wins.
	Env []string
	// Umask is the daemon's umask. Default (0): the controller's umask.
	// Setting it for a Command daemon needs the re-exec shim, so the
	// program must call Main.
	Umask os.FileMode
	// User and Group name the account the daemon runs as (by name or
	// number). Default: the controller's. Only root can switch. With User
	// alone, the user's primary group is used; with User, the user's
	// supplementary groups (from the user database) are set too. Both
	// are looked up once, at New or Add: in /etc/passwd and /etc/group,
	// else with getent(1) (accounts from LDAP, sssd or systemd-userdb, by
	// libc's NSS; New or Add then waits for getent, at most 5 s); neither
	// found is ErrBadSpec. The library does not use
	// os/user, whose cgo would link every program that embeds it
	// dynamically.
	User, Group string

	// StopSignal is what Stop sends (with SIGCONT, so a stopped process
	// can act on it). Default: SIGTERM. The seed used SIGHUP.
	StopSignal syscall.Signal
	// StopTimeout is how long Poll waits after Stop before it sends
	// SIGKILL. Default (zero or negative): 10s.
	StopTimeout time.Duration
	// StartSecs is how long the process must stay up to count as running;
	// an exit before that is start-failed. Default: 1s. Negative: running
	// at the first Poll.
	StartSecs time.Duration
	// KillMode: KillGroup (default), KillProcess or KillCgroup.
	KillMode KillMode
	// CgroupBase is the cgroup v2 dir under which KillCgroup daemons get
	// their cgroups. Default: the controller's own cgroup's subtree,
	// <own>/launcher, when it is delegated to this user; else, as root,
	// <cgroup2 mount>/launcher.
	CgroupBase string
	// MemoryMax, CPUMax and PidsMax limit a KillCgroup daemon's whole tree:
	// memory in bytes (memory.max; over it the kernel's OOM killer ends a
	// process), CPU in CPUs (cpu.max: 0.5 is half of one, over 100ms
	// periods), processes (pids.max: a fork over it fails). Default: none.
	// A limit whose cgroup controller is not available is an error at New
	// (ErrNoController).
	MemoryMax int64
	CPUMax    float64
	PidsMax   int64
	// LogMaxBytes rotates the log once it is this large: its head moves to
	// <name>.log.1 (older ones to .2 ... up to LogBackups) while the daemon
	// keeps writing; see Daemon.Poll. Poll then looks at the log's size
	// once a second. Default: 0, no rotation.
	LogMaxBytes int64
	// LogBackups is how many rotated logs are kept. Default: 3; negative:
	// none (the head of the log is dropped).
	LogBackups int
	// Data is what the daemon is started with when a start gives none (a
	// Manager's starts and restarts, Start(nil)): a Func daemon's argument,
	// a Command daemon's stdin. Default: none (stdin is /dev/null).
	Data []byte
	// InputFIFO makes the daemon's stdin the FIFO <PIDDir>/<name>.stdin,
	// which any controller can write to later with WriteInput (the
	// daemon never reads end-of-file from it). Start's data, if any, is
	// the first thing in it. Default: stdin is Start's data or /dev/null.
	InputFIFO bool

	// Ready says when a starting daemon counts as running. ReadyStartSecs
	// (default): once it has stayed up StartSecs. ReadyNotify: when it
	// sends READY=1 to $NOTIFY_SOCKET (systemd's sd_notify protocol; the
	// socket is <PIDDir>/<name>.notify). ReadyFD: when it writes a line to
	// the inherited fd NotifyFD (s6 style). With ReadyNotify or ReadyFD,
	// StartSecs is not used.
	Ready ReadyMode
	// NotifyFD is the fd number the daemon writes its readiness line to,
	// with ReadyFD. Default: 4 (0-2 are stdio, 3 holds the daemon's lock).
	NotifyFD int
	// WatchdogSec, with ReadyNotify: a running daemon that has sent no
	// WATCHDOG=1 for this long is restarted (reason watchdog), unless it
	// said STOPPING=1. Its environment gets WATCHDOG_USEC. Default: 0, no
	// watchdog.
	WatchdogSec time.Duration

	// The fields below are used by a Manager only.

	// Restart says when the Manager starts the daemon again after it
	// ended by itself: RestartNever (default), RestartOnFailure (a
	// non-zero exit, a signal, or an exit while starting), RestartAlways.
	// An exit that was asked for (Stop) is never restarted.
	Restart RestartPolicy
	// RestartDelay is the first backoff before a restart; each further
	// restart doubles it, up to MaxRestartDelay, with ±20% jitter.
	// Defaults: 100ms and 30s.
	RestartDelay, MaxRestartDelay time.Duration
	// ResetAfter: a run at least this long resets the backoff and the
	// restart count. Default: 10s.
	ResetAfter time.Duration
	// MaxRestarts within RestartWindow: one more and the Manager gives up
	// (reason gave-up) until the daemon is started by hand. Defaults: 5
	// within 60s; a negative MaxRestarts means no limit. At most 1000 (the
	// times of the last ones are kept in the shared record).
	MaxRestarts   int
	RestartWindow time.Duration
	// After names daemons of the same Manager that must be running before
	// this one starts; stopping goes in reverse order. They may be added
	// before or after this one; a Start while one is not added yet is
	// refused (ErrBadSpec), and a cycle is refused at Add.
	After []string
}

// ReadyMode says how a daemon tells that it is ready.
type ReadyMode uint8

const (
	// ReadyStartSecs: running once it has stayed up StartSecs.
	ReadyStartSecs ReadyMode = iota
	// ReadyNotify: running when it sends READY=1 to $NOTIFY_SOCKET.
	ReadyNotify
	// ReadyFD: running when it writes a line to fd NotifyFD.
	ReadyFD
)

// RestartPolicy says when a Manager restarts a daemon that ended by itself.
type RestartPolicy uint8

const (
	// RestartNever leaves an ended daemon stopped.
	RestartNever RestartPolicy = iota
	// RestartOnFailure restarts after a non-zero exit, a signal, or an
	// exit while starting.
	RestartOnFailure
	// RestartAlways restarts after any exit that was not asked for.
	RestartAlways
)

// Defaults used where a Spec leaves a field zero.
const (
	DefaultStopTimeout = 10 * time.Second
	DefaultStartSecs   = time.Second
)

// withDefaults returns the spec with every defaulted field filled in.
func (s Spec) withDefaults() Spec {
	if s.PIDDir == "" {
		s.PIDDir = DefaultPIDDir()
	}
	if s.LogDir == "" {
		s.LogDir = DefaultLogDir()
	}
	if s.StopSignal == 0 {
		s.StopSignal = syscall.SIGTERM
	}
	if s.StopTimeout <= 0 {
		s.StopTimeout = DefaultStopTimeout
	}
	if s.StartSecs == 0 {
		s.StartSecs = DefaultStartSecs
	}
	if s.LogBackups == 0 {
		s.LogBackups = 3
	}
	if s.NotifyFD == 0 {
		s.NotifyFD = 4
	}
	if s.RestartDelay <= 0 {
		s.RestartDelay = 100 * time.Millisecond
	}
	if s.MaxRestartDelay <= 0 {
		s.MaxRestartDelay = 30 * time.Second
	}
	s.MaxRestartDelay = max(s.MaxRestartDelay, s.RestartDelay)
	if s.ResetAfter <= 0 {
		s.ResetAfter = 10 * time.Second
	}
	if s.MaxRestarts == 0 {
		s.MaxRestarts = 5
	}
	if s.RestartWindow <= 0 {
		s.RestartWindow = time.Minute
	}
	return s
}

// DefaultPIDDir is the pid dir of a Spec that names none: /run/launcher
// for root, $XDG_STATE_HOME/launcher/run (~/.local/state/launcher/run) for
// other users. It reads the environment only; it does not create the dir.
func DefaultPIDDir() string { return defaultDir("/run/launcher", "run") }

// DefaultLogDir is the log dir of a Spec that names none: /var/log/launcher
// for root, $XDG_STATE_HOME/launcher/log for other users.
func DefaultLogDir() string { return defaultDir("/var/log/launcher", "log") }

func defaultDir(rootDir, sub string) string {
	if os.Geteuid() == 0 {
		return rootDir
	}
	state := os.Getenv("XDG_STATE_HOME")
	if state == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		state = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(state, "launcher", sub)
}

// credential resolves User and Group; nil when neither is set.
func (s Spec) credential() (*syscall.Credential, error) {
	if s.User == "" && s.Group == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if s.User != "" {
		u, err := userdb.System.LookupUser(s.User)
		if err != nil {
			return nil, detail(ErrBadSpec, "%v", err)
		}
		cred.Uid, cred.Gid = u.UID, u.GID
		// The user's supplementary groups, from the user database, as
		// login and systemd give them.
		cred.Groups = userdb.System.Groups(u)
	}
	if s.Group != "" {
		gid, err := userdb.System.LookupGroup(s.Group)
		if err != nil {
			return nil, detail(ErrBadSpec, "%v", err)
		}
		cred.Gid = gid
	}
	return cred, nil
}

// check refuses a spec that cannot work, before anything is done.
func (s Spec) check() error {
	fail := func(err error) error { return &Error{Op: "new", Daemon: s.Name, Err: err} }
	if !ValidName(s.Name) {
		return &Error{Op: "new", Err: detail(ErrBadName, "%q: want [A-Za-z0-9._-]+, no leading dot", s.Name)}
	}
	switch {
	case len(s.Command) == 0 && s.Func == "":
		return fail(detail(ErrBadSpec, "neither Command nor Func is set"))
	case len(s.Command) > 0 && s.Func != "":
		return fail(detail(ErrBadSpec, "both Command and Func are set"))
	case len(s.Command) > 0 && s.Command[0] == "":
		return fail(detail(ErrBadSpec, "empty program name"))
	case s.Func != "" && registered(s.Func) == nil:
		return fail(detail(ErrBadSpec, "no function %q is registered", s.Func))
	case s.Func != "" && !mainCalled.Load():
		return fail(detail(ErrNoMain, "Func daemons re-exec this program"))
	case s.StopSignal < 0 || s.StopSignal > 64:
		return fail(detail(ErrBadSpec, "stop signal %d", int(s.StopSignal)))
	case s.Ready > ReadyFD:
		return fail(detail(ErrBadSpec, "ready mode %d", s.Ready))
	case s.NotifyFD != 0 && (s.NotifyFD < 4 || s.NotifyFD > maxNotifyFD):
		return fail(detail(ErrBadSpec, "notify fd %d: want 4 to %d (0-3 are stdio and the lock)", s.NotifyFD, maxNotifyFD))
	case s.WatchdogSec != 0 && s.Ready != ReadyNotify:
		return fail(detail(ErrBadSpec, "WatchdogSec needs Ready: ReadyNotify"))
	case s.MaxRestarts > maxMaxRestarts:
		return fail(detail(ErrBadSpec, "MaxRestarts %d: at most %d (negative: no limit)", s.MaxRestarts, maxMaxRestarts))
	}
	for _, kv := range s.Env {
		if !strings.Contains(kv, "=") {
			return fail(detail(ErrBadSpec, "env entry %q is not KEY=value", kv))
		}
	}
	return nil
}

// maxNotifyFD bounds Spec.NotifyFD: the child's fd table is as large as
// the highest fd it gets.
const maxNotifyFD = 1023

// maxMaxRestarts bounds Spec.MaxRestarts: the shared record keeps the time
// of each of the last MaxRestarts restarts (about 40 bytes each), and a
// reader takes 64 KiB of it at most.
const maxMaxRestarts = 1000
