// contain_linux.go ties a KillCgroup daemon to its cgroup: found at New,
// made (with its limits) for each spawn, signalled and killed as a whole,
// watched until it is empty, removed when the daemon is gone.

package launcher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// containment is a KillCgroup daemon's cgroup state.
type containment struct {
	base string  // where its cgroup goes
	cg   *cgroup // its cgroup, once made or found
	wd   int32   // the inotify watch on its cgroup.events; -1
}

// limits is the Spec's limits in cgroup terms.
func (s Spec) limits() cgroupLimits {
	lim := cgroupLimits{MemoryMax: s.MemoryMax, PidsMax: s.PidsMax}
	if s.CPUMax > 0 {
		lim.CPUPeriod = 100 * time.Millisecond
		lim.CPUQuota = time.Duration(s.CPUMax * float64(lim.CPUPeriod))
	}
	return lim
}

// containNew finds the daemon's cgroup base (ErrNoCgroup when there is
// none), checks that its limits' controllers can be had (ErrNoController),
// and finds its cgroup if an earlier controller made it. It creates
// nothing.
func (d *Daemon) containNew() error {
	s := d.spec
	if s.KillMode != KillCgroup {
		if s.MemoryMax != 0 || s.CPUMax != 0 || s.PidsMax != 0 {
			return detail(ErrBadSpec, "MemoryMax, CPUMax and PidsMax need KillMode: KillCgroup")
		}
		return nil
	}
	if s.MemoryMax < 0 || s.CPUMax < 0 || s.PidsMax < 0 {
		return detail(ErrBadSpec, "a negative limit")
	}
	base, err := findCgroupBase(s.CgroupBase)
	if err != nil {
		return err
	}
	if err := controllersFor(base, s.limits()); err != nil {
		return err
	}
	d.ct = &containment{base: base, wd: -1}
	if name, err := d.cgroupDirName(); err == nil { // no pid dir yet: no daemon, no cgroup
		if cg, err := findCgroup(base, name); err == nil {
			d.ct.cg = cg
		}
	}
	return nil
}

// cgroupDirName is the name of the daemon's cgroup under its base:
// <name>@<key of the pid dir>. Daemons of one name in two pid dirs (two
// configs, two users' projects) are two daemons, and must never share a
// cgroup: a spawn kills what it finds in its cgroup, and a stop kills the
// whole cgroup. The key is the pid dir's device and inode, hashed, so every
// spelling of the dir (relative, through a symlink) gives the same cgroup.
func (d *Daemon) cgroupDirName() (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(d.f.dir, &st); err != nil {
		return "", &fs.PathError{Op: "stat", Path: d.f.dir, Err: err}
	}
	return cgroupName(d.spec.Name, st.Dev, st.Ino), nil
}

// controllersFor says whether the controllers the limits need can be given
// to base's children: listed in base's cgroup.controllers, or, for a base
// launcher made (or will make), in its parent's.
func controllersFor(base string, lim cgroupLimits) error {
	var need []string
	if lim.MemoryMax > 0 {
		need = append(need, "memory")
	}
	if lim.CPUQuota > 0 {
		need = append(need, "cpu")
	}
	if lim.PidsMax > 0 {
		need = append(need, "pids")
	}
	if len(need) == 0 {
		return nil
	}
	have, err := os.ReadFile(base + "/cgroup.controllers")
	ours := false
	if errors.Is(err, fs.ErrNotExist) {
		ours = true // made at the first spawn, marked as ours
	} else if _, xerr := unix.Getxattr(base, baseMark, nil); xerr == nil {
		ours = true
	}
	avail := strings.Fields(string(have))
	if ours {
		parent, _ := os.ReadFile(filepath.Dir(base) + "/cgroup.controllers")
		avail = append(avail, strings.Fields(string(parent))...)
	}
	for _, ctl := range need {
		if !slices.Contains(avail, ctl) {
			return fmt.Errorf("%w: the %s controller is not available under %s (enable it in the parent's "+
				"cgroup.subtree_control; a controller bound to cgroup v1 never is)", ErrNoController, ctl, base)
		}
	}
	return nil
}

// containSpawn makes the daemon's cgroup (with its limits) for a spawn and
// returns an fd of it for CLONE_INTO_CGROUP (-1 without KillCgroup). The
// caller closes it.
func (d *Daemon) containSpawn() (int, error) {
	if d.ct == nil {
		return -1, nil
	}
	name, err := d.cgroupDirName()
	if err != nil {
		return -1, err
	}
	cg, err := openCgroup(d.ct.base, name, d.spec.limits())
	if err != nil {
		return -1, err
	}
	if full, _ := cg.populated(); full {
		// Processes of an earlier instance outside the lock's reach: they
		// are the daemon's (they are in its cgroup), and go first.
		cg.kill()
	}
	d.ct.cg = cg
	d.containWatch()
	return cg.dirFD()
}

// containWatch watches cgroup.events, whose change tells when the cgroup
// empties: no polling, no /proc scan.
func (d *Daemon) containWatch() {
	if d.ct == nil || d.ct.cg == nil || d.ct.wd >= 0 || d.own.hub == nil {
		return
	}
	d.ct.wd = d.own.hub.watchFile(d.ct.cg.eventsPath(), d, fileCgroup)
}

func (d *Daemon) containUnwatch() {
	if d.ct != nil && d.ct.wd >= 0 && d.own.hub != nil {
		d.own.hub.unwatchFile(d.ct.wd)
		d.ct.wd = -1
	}
}

// containSignal signals every process of the cgroup once; SIGKILL is
// cgroup.kill, which no fork escapes. handled is false without a cgroup.
func (d *Daemon) containSignal(sig syscall.Signal) (handled bool, err error) {
	if d.ct == nil || d.ct.cg == nil {
		return false, nil
	}
	if sig == syscall.SIGKILL {
		return true, d.ct.cg.kill()
	}
	return true, d.ct.cg.signalAll(sig)
}

// containBusy reports whether the daemon's cgroup still holds a process:
// then it is not gone, lock or no lock.
func (d *Daemon) containBusy() bool {
	if d.ct == nil || d.ct.cg == nil {
		return false
	}
	full, err := d.ct.cg.populated()
	return full || err != nil && !errors.Is(err, fs.ErrNotExist)
}

// containGone removes the empty cgroup of a daemon gone.
func (d *Daemon) containGone() {
	if d.ct == nil || d.ct.cg == nil {
		return
	}
	d.containUnwatch()
	if d.ct.cg.remove() == nil {
		d.ct.cg = nil
	}
}

// containHolds reports whether pid is in the daemon's cgroup: a proof of
// identity beside the lock.
func (d *Daemon) containHolds(pid int) bool {
	return d.ct != nil && d.ct.cg != nil && d.ct.cg.contains(pid)
}

// containPIDs lists the processes of the daemon's cgroup, where the lock's
// holders are looked for in recovery (instead of all of /proc); nil without
// a cgroup.
func (d *Daemon) containPIDs() []int {
	if d.ct == nil || d.ct.cg == nil {
		return nil
	}
	pids, _ := d.ct.cg.pids()
	return pids
}

// treeSource is what a Status reads the tree's usage from: the daemon's
// cgroup, nil when it has none.
type treeSource = *cgroup

func (d *Daemon) treeSource() treeSource {
	if d.ct == nil {
		return nil
	}
	return d.ct.cg
}

// treeUsage fills in the tree's usage; -1 where unknown.
func treeUsage(cg treeSource, st *Status) {
	st.TreeCPU, st.TreeMemory, st.TreeProcs = -1, -1, -1
	if cg == nil {
		return
	}
	u := cg.stats()
	if u.CPUKnown {
		st.TreeCPU = u.CPU
	}
	if u.MemoryKnown {
		st.TreeMemory = u.Memory
	}
	if u.ProcsKnown {
		st.TreeProcs = u.Procs
	}
}
