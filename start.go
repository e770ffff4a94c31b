// start.go prepares and records one spawn of a daemon: the lock, what to
// run, its fds, the records after the exec. The fork and exec themselves
// are spawn_linux.go's.

package launcher

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// spawnRequest is everything one spawn needs, resolved by the Daemon.
type spawnRequest struct {
	path  string   // absolute path of the program
	argv  []string // argv[0] included
	env   []string
	dir   string
	umask os.FileMode // 0: inherit
	cred  *syscall.Credential
	stdin int // fds the child gets as 0, 1 and 2, and 3 (the lock)
	log   int
	lock  int
	// notify, when >= 0, is given to the child as fd notifyNum (ReadyFD).
	notify, notifyNum int
	// cgroup, when >= 0, is the cgroup dir the child is spawned into
	// (KillCgroup).
	cgroup int
}

// openLog opens the log for appending, never through a symlink, and only
// if it is a regular file. The daemon gets the fd blocking, as programs
// expect of stdout.
func openLog(path string) (int, error) {
	fd, err := openFile(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NONBLOCK, 0o644, unix.S_IFREG)
	if err == nil {
		unix.SetNonblock(fd, false)
	}
	return fd, err
}

// spawnNow spawns the daemon (the machine said actSpawn) and records it.
// The order is the restart path's: the lock (kept from the gone check when
// there is one), the spawn, then the records. A controller killed between
// the spawn and the records leaves a daemon that holds its lock, which the
// next controller finds (find's recovery).
func (d *Daemon) spawnNow(now time.Time) error {
	data := d.startData
	d.startData = nil
	if data == nil {
		data = d.spec.Data
	}
	lockfd := d.heldLock
	d.heldLock = -1
	if lockfd < 0 {
		if !d.dirsMade {
			if err := d.f.ensureDirs(); err != nil {
				return err
			}
			if d.own.hub != nil {
				d.own.hub.watchDir(d.f.dir, d.f.name, d) // made just now, maybe
			}
			d.dirsMade = true
		}
		fd, err := openLock(d.f.lockPath())
		if errors.Is(err, os.ErrNotExist) { // the pid dir went away since
			if err = d.f.ensureDirs(); err == nil {
				fd, err = openLock(d.f.lockPath())
			}
		}
		if err != nil {
			d.dirsMade = false
			return err
		}
		got, err := tryLock(fd)
		if err != nil || !got {
			unix.Close(fd)
			if err == nil {
				err = ErrBusy
			}
			return err
		}
		lockfd = fd
	}
	spawned := false
	defer func() {
		if !spawned {
			releaseLock(lockfd)
		}
	}()
	// A daemon that closed its inherited fds holds no lock, yet lives: its
	// identity record proves it, and it is never started twice.
	if id, err := readIdentityFile(d.f.idPath()); err == nil && (d.proc == nil || id.PID != d.proc.pid) {
		if p, _, ok := prove(id.PID, &id, 0, 0); ok {
			alive := p.alive()
			p.close()
			if alive {
				return detail(ErrBusy, "pid %d, which closed its lock, is still running", id.PID)
			}
		}
	}
	req, id, err := d.spawnRequest(lockfd)
	if err != nil {
		return err
	}
	writeSpawner(lockfd, spawner{PID: os.Getpid(), Token: id.Token})
	if d.spec.InputFIFO {
		req.stdin, err = openInputFIFO(d.f.stdinPath(), data)
	} else {
		req.stdin, err = openStdin(data)
	}
	if err != nil {
		return err
	}
	defer unix.Close(req.stdin)
	if req.log, err = openLog(d.f.logPath()); errors.Is(err, os.ErrNotExist) {
		// The log dir was removed since the last start: make it again, as
		// the seed does, rather than fail.
		if err = os.MkdirAll(d.f.logDir, 0o755); err == nil {
			req.log, err = openLog(d.f.logPath())
		}
	}
	if err != nil {
		return err
	}
	defer unix.Close(req.log)
	if d.notify != nil {
		if req.notify, err = d.notify.prepare(); err != nil {
			return err
		}
		if req.notify >= 0 {
			defer unix.Close(req.notify)
		}
		if d.notify.fd < 0 && d.spec.Ready == ReadyNotify {
			if err := d.notify.bind(); err != nil {
				return err
			}
		}
	}
	if req.cgroup, err = d.containSpawn(); err != nil {
		return err
	}
	if req.cgroup >= 0 {
		defer unix.Close(req.cgroup)
	}
	// The marker goes first, so it is in the log before any line of the
	// daemon's; the pid is in the exit marker and the records.
	writeMarker(req.log, now, "starting "+d.spec.Name)
	p, err := d.forkExec(req)
	if err != nil {
		d.cmdPath, d.dirsMade = "", false
		if errors.Is(err, ErrNoMain) {
			return err // not the command's fault
		}
		if _, serr := os.Stat(d.spec.Dir); d.spec.Dir != "" && serr != nil {
			err = serr // the working dir is what is missing, not the program
		}
		return fmt.Errorf("%w: %s: %w", ErrExec, d.commandString(), err)
	}
	spawned = true
	unix.Close(lockfd) // no unlock: the daemon holds the lock now, through its copy
	id.PID, id.StartTicks, id.Started = p.pid, p.start, now
	if d.spec.StartSecs < 0 && !d.m.needReady {
		// Confirmed at the first Poll, whatever happens: recorded now, in
		// the one write, not again then (recordReady finds it there).
		id.Ready = now
	}
	d.problem = "" // whatever stale records said is replaced now
	if err := d.f.writeRecords(id); err != nil {
		// It holds its lock: any controller still finds it. Say so.
		d.note("started pid %d, but cannot write its records: %v", p.pid, err)
	} else if !id.Ready.IsZero() {
		d.readyInID = p.ident() // recordReady need not read it back
	}
	if d.proc != nil {
		d.unwatchProc()
		d.proc.close()
	}
	d.proc, d.mainExited = p, false
	d.recordsDue, d.recovered = time.Time{}, nil
	d.genSeen = d.wantRec.Gen
	d.startedHere, d.stoppedHere, d.outdated = true, false, false
	d.statusText = ""
	d.watchProc()
	if d.notify != nil {
		d.watchNotify()
	}
	return nil
}

// forkExec runs spawn. A caller's own request (Start, a Manager's Start of
// many) releases the owner's mutex for it, the longest step of a start: a
// Status or a Poll from another goroutine, and requests for other daemons,
// go on meanwhile. What would act on this daemon waits (waitSpawn), and a
// round passes it by, leaving its work for after (deferred). Every fd the
// spawn uses is the request's own; no field of d is read or written while
// the mutex is released.
func (d *Daemon) forkExec(req spawnRequest) (*process, error) {
	o := d.own
	if !d.spawnOpen || o.inRound {
		return spawnFunc(req)
	}
	d.spawnOpen = false // once: a second spawn in this request is settle's
	d.spawning = true
	o.spawns++
	o.mu.Unlock()
	p, err := spawnFunc(req)
	o.mu.Lock()
	d.spawning = false
	o.spawns--
	o.spawnDone.Broadcast()
	o.resume(d)
	return p, err
}

// spawnFunc is spawn; a test holds a spawn in the middle through it.
var spawnFunc = spawn

// spawnRequest resolves what to run; req.stdin and req.log are left to the
// caller.
func (d *Daemon) spawnRequest(lockfd int) (spawnRequest, identity, error) {
	s := d.spec
	req := spawnRequest{dir: s.Dir, umask: s.Umask, cred: d.cred, lock: lockfd, stdin: -1, log: -1,
		notify: -1, notifyNum: s.NotifyFD, cgroup: -1}
	id := identity{BootID: bootID(), PIDNS: pidNS(), LockFD: lockFD, Token: newToken()}
	env := os.Environ()
	if s.Func != "" {
		exe, err := os.Executable()
		if err != nil {
			return req, id, detail(ErrExec, "cannot find this program: %v", err)
		}
		req.path, req.argv = exe, []string{exe, "launcher-func=" + s.Name}
		env = append(env, envFunc+"="+s.Func, envToken+"="+id.Token,
			envStopSig+"="+strconv.Itoa(int(s.StopSignal)), envExit+"="+d.f.exitPath())
		if s.InputFIFO {
			env = append(env, envStream+"=1")
		}
		if s.Umask != 0 {
			env = append(env, envUmask+"="+strconv.FormatUint(uint64(s.Umask), 8))
			req.umask = 0 // the function sets it itself
		}
		id.Func = s.Func
	} else {
		// Looked up once; again after a failed spawn (the program may
		// have moved).
		if d.cmdPath == "" {
			path, err := exec.LookPath(s.Command[0])
			if err != nil && !errors.Is(err, exec.ErrDot) {
				return req, id, detail(ErrExec, "%s: %v", s.Command[0], unwrapExec(err))
			}
			if !filepath.IsAbs(path) {
				path, _ = filepath.Abs(path)
			}
			d.cmdPath = path
		}
		req.path, req.argv = d.cmdPath, s.Command
		id.Command = s.Command
	}
	if d.notify != nil {
		env = append(env, d.notify.env()...)
	}
	if s.WatchdogSec > 0 {
		env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(s.WatchdogSec.Microseconds(), 10))
	}
	req.env = mergeEnv(env, s.Env)
	return req, id, nil
}

func unwrapExec(err error) error {
	var e *exec.Error
	if errors.As(err, &e) {
		return e.Err
	}
	return err
}

// mergeEnv appends extra to env, later keys replacing earlier ones.
func mergeEnv(env, extra []string) []string {
	if len(extra) == 0 {
		return env
	}
	out := make([]string, 0, len(env)+len(extra))
	seen := map[string]int{}
	for _, kv := range append(env, extra...) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[k]; ok {
			out[i] = kv
			continue
		}
		seen[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// writeMarker appends a timestamped line of the controller's to the log.
func writeMarker(fd int, now time.Time, msg string) {
	unix.Write(fd, []byte(now.UTC().Format(time.RFC3339Nano)+" launcher: "+msg+"\n"))
}

// logMarker opens the log to append one marker line.
func (d *Daemon) logMarker(now time.Time, msg string) {
	fd, err := openLog(d.f.logPath())
	if err != nil {
		return
	}
	writeMarker(fd, now, msg)
	unix.Close(fd)
}
