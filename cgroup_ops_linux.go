// cgroup_ops_linux.go is what is done to a daemon's cgroup (cgroup_linux.go
// makes it): listing its processes, signalling each once, killing all of
// it, knowing whether it is empty, its usage, and removing it.

package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pids lists the processes in the cgroup and in any cgroup a daemon made
// below it (cgroup.kill and populated cover those too), each once:
// cgroup.procs may repeat a pid that moved out and back during the read.
func (c *cgroup) pids() ([]int, error) {
	var pids []int
	seen := map[int]bool{}
	var walk func(dir string) error
	walk = func(dir string) error {
		b, err := os.ReadFile(dir + "/cgroup.procs")
		if err != nil && dir != c.path && errors.Is(err, fs.ErrNotExist) {
			return nil // a sub-cgroup removed meanwhile
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, _ := strconv.Atoi(f); pid > 0 && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if err == nil && e.IsDir() {
				err = walk(dir + "/" + e.Name())
			}
		}
		return err
	}
	return pids, walk(c.path)
}

// contains reports whether pid is in this cgroup or below it.
func (c *cgroup) contains(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	p, ok := unifiedPath(b)
	return err == nil && ok && (p == c.rel || strings.HasPrefix(p, c.rel+"/"))
}

// signalAll sends sig once to each process in the cgroup. A pid read from
// cgroup.procs may be reused before it is signalled, so each is pinned by a
// pidfd and signalled only if that process is in the cgroup. Pids <= 1 and
// this process are never signalled.
func (c *cgroup) signalAll(sig syscall.Signal) error {
	_, err := c.signalEach(sig, map[int]bool{})
	return err
}

// signalEach signals the processes not in done, adds them to done and
// returns how many it signalled.
func (c *cgroup) signalEach(sig syscall.Signal, done map[int]bool) (int, error) {
	pids, err := c.pids()
	if err != nil {
		return 0, err
	}
	var errs []error
	n, self := 0, os.Getpid()
	for _, pid := range pids {
		if pid <= 1 || pid == self || done[pid] {
			continue
		}
		done[pid] = true
		fd, err := unix.PidfdOpen(pid, 0)
		if err == nil {
			if c.contains(pid) {
				if err = unix.PidfdSendSignal(fd, sig, nil, 0); err == nil {
					n++
				}
			}
			unix.Close(fd)
		}
		if err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("signal pid %d: %w", pid, err))
		}
	}
	return n, errors.Join(errs...)
}

// kill SIGKILLs every process in the cgroup and below through cgroup.kill,
// which no fork escapes. Without it (Linux < 5.14) each process is killed,
// in passes while new ones show up; a fast forker could outrun that. It
// refuses a cgroup that holds this process.
func (c *cgroup) kill() error {
	if c.contains(os.Getpid()) {
		return fmt.Errorf("refusing to kill cgroup %s: this process is in it", c.path)
	}
	if err := writeCgroupFile(c.path+"/cgroup.kill", "1"); !errors.Is(err, unix.ENOENT) {
		return err
	}
	return c.killEach()
}

func (c *cgroup) killEach() error {
	done := map[int]bool{}
	for range 16 {
		if n, err := c.signalEach(unix.SIGKILL, done); err != nil || n == 0 {
			return err
		}
	}
	return nil
}

// populated reads "populated 0|1" in cgroup.events: whether a process is
// left in the cgroup or below (exited, unreaped ones are not).
func (c *cgroup) populated() (bool, error) {
	v, err := cgroupValue(c.eventsPath(), "populated")
	return v == "1", err
}

// eventsPath is the file for the caller's inotify watch (IN_MODIFY): the
// kernel notifies it when populated changes, so waiting costs nothing.
func (c *cgroup) eventsPath() string { return c.path + "/cgroup.events" }

// stats reads usage_usec in cpu.stat (there without the cpu controller),
// memory.current and pids.current.
func (c *cgroup) stats() cgroupStats {
	us, ok := cgroupInt(c.path+"/cpu.stat", "usage_usec")
	s := cgroupStats{CPU: time.Duration(us) * time.Microsecond, CPUKnown: ok}
	s.Memory, s.MemoryKnown = cgroupInt(c.path+"/memory.current", "")
	s.Procs, s.ProcsKnown = cgroupInt(c.path+"/pids.current", "")
	return s
}

// cgroupValue reads a one-value cgroup file, or with a key the value of
// "key value" in a flat-keyed one.
func cgroupValue(path, key string) (string, error) {
	b, err := os.ReadFile(path)
	if key == "" || err != nil {
		return string(bytes.TrimSpace(b)), err
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte(key+" ")); ok {
			return string(v), nil
		}
	}
	return "", fmt.Errorf("%s: no %s", path, key)
}

// cgroupInt is 0, false unless the value is there and a number.
func cgroupInt(path, key string) (int64, bool) {
	v, err := cgroupValue(path, key)
	if n, perr := strconv.ParseInt(v, 10, 64); err == nil && perr == nil {
		return n, true
	}
	return 0, false
}

// remove removes the cgroup and any a daemon made below it; EBUSY while
// it holds processes. One gone already is no error.
func (c *cgroup) remove() error { return removeCgroupTree(c.path) }

func removeCgroupTree(dir string) error {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			if err := removeCgroupTree(dir + "/" + e.Name()); err != nil {
				return err
			}
		}
	}
	switch err := unix.Rmdir(dir); {
	case err == nil, errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.EBUSY):
		return fmt.Errorf("cgroup %s still has processes: %w", dir, err)
	default:
		return &fs.PathError{Op: "rmdir", Path: dir, Err: err}
	}
}

// writeCgroupFile writes s in one write(2), as cgroup files want, and
// creates nothing: a missing file is ENOENT.
func writeCgroupFile(path, s string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		_, err = unix.Write(fd, []byte(s))
		unix.Close(fd)
	}
	if err != nil {
		return &fs.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}
