// cgroup_linux.go is the cgroup v2 of a KillCgroup daemon: finding a base,
// making the daemon's cgroup with its limits, signalling and killing all
// of it, knowing when it is empty, and its usage.

package launcher

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// KillMode cgroup: each daemon has a cgroup v2 of its own,
// <base>/<name>@<key of its pid dir> (cgroupName). It
// is spawned straight into it (CLONE_INTO_CGROUP), all it forks stays there
// whatever it does to its session, cgroup.kill ends all of it with no fork
// escaping, and cgroup.events tells through inotify when the last process is
// gone. It is all in the file system, so a later controller finds the cgroup
// from base, name and pid dir alone (adoption). Only v2: v1 has none of those. On a
// hybrid layout (v1 controllers in /sys/fs/cgroup/*, a cgroup2 at
// /sys/fs/cgroup/unified) they all work, but controllers bound to v1 never
// show in v2, so limits fail there with ErrNoController.
//
// Two cgroup v2 rules (systemd's CGROUP_DELEGATION.md) shape the layout. No
// internal processes: a cgroup holding processes cannot enable controllers
// for its children (EBUSY; the root is exempt), so daemons share a cgroup
// neither with the controller nor with each other, and the base holds none.
// Single writer: a cgroup's attributes are its maker's, so launcher writes
// subtree_control in the base and, only if launcher made the base, in its
// parent.

// cgroupLimits are written before the spawn; zero means no limit (a zero
// quota whatever the period).
type cgroupLimits struct {
	MemoryMax           int64         // bytes → memory.max
	CPUQuota, CPUPeriod time.Duration // → cpu.max "quota period"
	PidsMax             int64         // → pids.max
}

// cgroupStats: a value is known only where its file exists (memory.current
// and pids.current need their controllers); unknown is never a 0 reading.
type cgroupStats struct {
	CPU         time.Duration
	CPUKnown    bool
	Memory      int64
	MemoryKnown bool
	Procs       int64
	ProcsKnown  bool
}

// cgroup is one daemon's cgroup dir; rel is its path as /proc/<pid>/cgroup
// shows it (we assume the daemons share our cgroup namespace).
type cgroup struct{ path, rel string }

// baseMark marks a base that launcher made, so that a later controller
// also knows the base's parent is launcher's to enable controllers in.
const baseMark = "user.launcher.base"

// cgroupMount is a mounted cgroup2 whose dir shows the cgroup root.
type cgroupMount struct{ root, dir string }

var mountUnescaper = strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)

// cgroup2Mounts lists the cgroup2 mounts in a /proc/self/mountinfo.
func cgroup2Mounts(mountinfo []byte) []cgroupMount {
	var ms []cgroupMount
	for line := range strings.Lines(string(mountinfo)) {
		pre, post, _ := strings.Cut(line, " - ") // optional fields come before "-"
		f, fstype := strings.Fields(pre), strings.Fields(post)
		if len(f) >= 5 && len(fstype) > 0 && fstype[0] == "cgroup2" {
			ms = append(ms, cgroupMount{mountUnescaper.Replace(f[3]), mountUnescaper.Replace(f[4])})
		}
	}
	return ms
}

// dirOf returns the dir through which m shows the cgroup cg.
func (m cgroupMount) dirOf(cg string) (string, bool) {
	rest, ok := strings.CutPrefix(cg, strings.TrimSuffix(m.root, "/"))
	if !ok || rest != "" && rest[0] != '/' {
		return "", false
	}
	return filepath.Join(m.dir, rest), true
}

// unifiedPath returns the cgroup v2 path ("0::/path") of a /proc/<pid>/cgroup.
func unifiedPath(b []byte) (string, bool) {
	for line := range bytes.Lines(b) {
		if p, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("0::")); ok {
			return string(p), true
		}
	}
	return "", false
}

// writableCgroup checks that dir is a cgroup2 dir and that we may write it
// and the files named.
func writableCgroup(dir string, files ...string) error {
	err := isCgroup2(dir)
	for _, f := range append([]string{""}, files...) {
		if err == nil {
			err = unix.Access(filepath.Join(dir, f), unix.W_OK)
		}
	}
	return err
}

func isCgroup2(dir string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return &fs.PathError{Op: "statfs", Path: dir, Err: err}
	}
	if st.Type != unix.CGROUP2_SUPER_MAGIC {
		return fmt.Errorf("%s is not in a cgroup2 file system", dir)
	}
	return nil
}

// findCgroupBase picks the parent dir of the daemons' cgroups. First
// explicit, if given: a writable cgroup2 dir, else ErrNoCgroup (no silent
// fallback). Then, when we may write it (delegated: systemd's Delegate=yes,
// which a root controller wants too, or its cgroups sit in systemd's), the
// cgroup we run in: its sub-dir "launcher", as daemons must not share our
// cgroup. Daemons without limits work there; limits need controllers
// enabled in our cgroup, which the kernel refuses while we are in it.
// Moving the caller into a leaf is not a library's call: such a caller
// moves itself first (systemd's DelegateSubgroup=) or passes a base. Last,
// as root, <mount>/launcher in a cgroup2 root: against systemd's rules, for
// trees nobody manages (like a hybrid layout's).
func findCgroupBase(explicit string) (string, error) {
	if explicit != "" {
		if err := writableCgroup(explicit); err != nil {
			return "", fmt.Errorf("%w: base %s: %v", ErrNoCgroup, explicit, err)
		}
		return filepath.Clean(explicit), nil
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	mounts := cgroup2Mounts(mi)
	if len(mounts) == 0 {
		return "", fmt.Errorf("%w: no cgroup2 file system is mounted (%v)", ErrNoCgroup, err)
	}
	why := "no cgroup v2 line in /proc/self/cgroup"
	self, _ := os.ReadFile("/proc/self/cgroup")
	if own, ok := unifiedPath(self); ok {
		why = fmt.Sprintf("our cgroup %s is in no cgroup2 mount", own)
		for _, m := range mounts {
			// Spawning into <dir>/launcher/x takes write access to the
			// common ancestor's cgroup.procs: ours.
			if dir, ok := m.dirOf(own); ok {
				if err := writableCgroup(dir, "cgroup.procs"); err != nil {
					why = fmt.Sprintf("our cgroup %s is not delegated to us: %v", dir, err)
					continue
				}
				return filepath.Join(dir, "launcher"), nil
			}
		}
	}
	if os.Geteuid() == 0 {
		for _, m := range mounts {
			if m.root == "/" && writableCgroup(m.dir) == nil {
				return filepath.Join(m.dir, "launcher"), nil
			}
		}
		return "", fmt.Errorf("%w: %s, and no cgroup2 root is writable", ErrNoCgroup, why)
	}
	return "", fmt.Errorf("%w: %s, and we are not root", ErrNoCgroup, why)
}

// cgroupName is the dir name of the cgroup of daemon name whose pid dir
// is the dir (dev, ino): name@key, key 8 hex digits of an FNV-1a hash of
// the two. No interface file holds an "@" (they are all cgroup.procs,
// memory.max, ...), so no name can be taken for one.
func cgroupName(name string, dev, ino uint64) string {
	h := fnv.New32a()
	binary.Write(h, binary.LittleEndian, [2]uint64{dev, ino})
	return fmt.Sprintf("%s@%08x", name, h.Sum32())
}

// openCgroup makes <base>/<name> (and base) if missing (name is cgroupName's), enables the
// controllers the limits need and writes the limits; unset ones are reset to
// "max" where their files exist, as a cgroup from an earlier run may carry
// old ones. Whether it holds processes already is for the caller to ask.
func openCgroup(base, name string, lim cgroupLimits) (*cgroup, error) {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return nil, fmt.Errorf("bad cgroup name %q", name)
	}
	if lim.MemoryMax < 0 || lim.PidsMax < 0 || lim.CPUQuota < 0 || lim.CPUPeriod < 0 {
		return nil, fmt.Errorf("negative cgroup limit: %+v", lim)
	}
	base = filepath.Clean(base)
	ours := false
	if err := isCgroup2(base); errors.Is(err, unix.ENOENT) {
		if err := isCgroup2(filepath.Dir(base)); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoCgroup, err)
		}
		if err := unix.Mkdir(base, 0o755); err == nil {
			unix.Setxattr(base, baseMark, []byte("1"), 0) // best effort: user xattrs need Linux 5.7
			ours = true
		} else if !errors.Is(err, unix.EEXIST) {
			return nil, &fs.PathError{Op: "mkdir", Path: base, Err: err}
		}
	} else if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoCgroup, err)
	}
	if !ours {
		_, err := unix.Getxattr(base, baseMark, nil)
		ours = err == nil
	}
	for i, need := range []bool{lim.MemoryMax > 0, lim.CPUQuota > 0, lim.PidsMax > 0} {
		if need {
			if err := enableController(base, []string{"memory", "cpu", "pids"}[i], ours); err != nil {
				return nil, err
			}
		}
	}
	path := filepath.Join(base, name)
	err := unix.Mkdir(path, 0o755)
	made := err == nil
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, &fs.PathError{Op: "mkdir", Path: path, Err: err}
	}
	c, err := newCgroup(path)
	if err == nil {
		err = c.setLimits(lim)
	}
	if err != nil {
		if made {
			unix.Rmdir(path)
		}
		return nil, err
	}
	return c, nil
}

// enableController makes ctl available to base's children: in base, and
// first in base's parent if base lacks it and is ours. The kernel says
// ENOENT for a controller the cgroup does not have and EBUSY for one that
// holds processes.
func enableController(base, ctl string, ours bool) error {
	have, err := os.ReadFile(base + "/cgroup.controllers")
	if err != nil {
		return err
	}
	dirs := []string{base}
	if !slices.Contains(strings.Fields(string(have)), ctl) {
		if !ours {
			return fmt.Errorf("%w: %s is not in %s/cgroup.controllers: enable it in %s/cgroup.subtree_control",
				ErrNoController, ctl, base, filepath.Dir(base))
		}
		dirs = []string{filepath.Dir(base), base}
	}
	for _, dir := range dirs {
		switch err := writeCgroupFile(dir+"/cgroup.subtree_control", "+"+ctl); {
		case errors.Is(err, unix.ENOENT):
			return fmt.Errorf("%w: %s is not available in %s (one bound to cgroup v1 never is)", ErrNoController, ctl, dir)
		case errors.Is(err, unix.EBUSY):
			return fmt.Errorf("%w: cannot enable %s in %s: it holds processes (cgroup v2's no internal processes "+
				"rule); move them into a leaf cgroup, or use another base", ErrNoController, ctl, dir)
		case err != nil:
			return err
		}
	}
	return nil
}

// setLimits writes the limits: a set one whose file is missing is an error,
// an unset one whose file is missing has nothing to reset.
func (c *cgroup) setLimits(lim cgroupLimits) error {
	vals := [3]string{"max", "max", "max"}
	if lim.MemoryMax > 0 {
		vals[0] = strconv.FormatInt(lim.MemoryMax, 10)
	}
	if lim.CPUQuota > 0 {
		period := cmp.Or(lim.CPUPeriod, 100*time.Millisecond) // the kernel's default
		vals[1] = fmt.Sprintf("%d %d", lim.CPUQuota.Microseconds(), period.Microseconds())
	}
	if lim.PidsMax > 0 {
		vals[2] = strconv.FormatInt(lim.PidsMax, 10)
	}
	for i, file := range []string{"memory.max", "cpu.max", "pids.max"} {
		err := writeCgroupFile(c.path+"/"+file, vals[i])
		if errors.Is(err, unix.ENOENT) {
			if vals[i] == "max" {
				continue
			}
			err = ErrNoController
		}
		if err != nil {
			return fmt.Errorf("cgroup %s: %s %q: %w", c.path, file, vals[i], err)
		}
	}
	return nil
}

// findCgroup opens an existing <base>/<name>, creating nothing: adoption by
// a later controller. A missing one is fs.ErrNotExist.
func findCgroup(base, name string) (*cgroup, error) {
	return newCgroup(filepath.Join(base, name))
}

// newCgroup checks that path is a cgroup2 dir and finds its rel path
// through the innermost cgroup2 mount that holds it.
func newCgroup(path string) (*cgroup, error) {
	path = filepath.Clean(path)
	if err := isCgroup2(path); errors.Is(err, unix.ENOENT) {
		return nil, &fs.PathError{Op: "open cgroup", Path: path, Err: fs.ErrNotExist}
	} else if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoCgroup, err)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	var best cgroupMount
	for _, m := range cgroup2Mounts(mi) {
		in := path == m.dir || strings.HasPrefix(path, strings.TrimSuffix(m.dir, "/")+"/")
		if in && len(m.dir) > len(best.dir) {
			best = m
		}
	}
	if best.dir == "" {
		return nil, fmt.Errorf("%w: %s is in no cgroup2 mount of /proc/self/mountinfo", ErrNoCgroup, path)
	}
	return &cgroup{path: path, rel: filepath.Join(best.root, strings.TrimPrefix(path, best.dir))}, nil
}

// dirFD opens the cgroup dir for SysProcAttr.CgroupFD. O_PATH is enough:
// CLONE_INTO_CGROUP takes any fd of the dir (kernel commit ef2c41cf38a7)
// and checks the spawner's right to write cgroup.procs itself. The caller
// closes it after the spawn.
func (c *cgroup) dirFD() (int, error) {
	fd, err := unix.Open(c.path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: c.path, Err: err}
	}
	return fd, nil
}
