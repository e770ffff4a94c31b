//go:build linux

// contain_linux_test.go checks KillCgroup daemons end to end: nothing they
// fork escapes, the cgroup tells when they are gone, another controller
// adopts them by it, and idle they cost nothing.

package launcher

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cgroupSpec is a KillCgroup spec under a test base (root only; skips
// otherwise).
func cgroupSpec(t *testing.T, name string, command string) Spec {
	t.Helper()
	base := cgroupTestBase(t)
	spec := testSpec(t, name, "")
	spec.Command = []string{"sh", "-c", command}
	spec.KillMode, spec.CgroupBase, spec.StartSecs = KillCgroup, base, -1
	return spec
}

// childPIDs reads "child=PID" lines from the log.
func childPIDs(log string) []int {
	var pids []int
	for _, f := range strings.Fields(log) {
		if v, ok := strings.CutPrefix(f, "child="); ok {
			if pid, err := strconv.Atoi(v); err == nil && pid > 1 {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// A setsid grandchild, one that keeps the lock and one that closes it,
// is in the daemon's cgroup and goes with the daemon at Stop; the daemon is
// Stopped only when the cgroup is empty, and the cgroup is then removed.
func TestCgroupNothingEscapes(t *testing.T) {
	t.Parallel()
	spec := cgroupSpec(t, "escaper", `setsid sleep 1000 & echo child=$!; `+
		`setsid sh -c 'exec 3>&-; exec sleep 1001' & echo child=$!; exec sleep 1002`)
	d := newDaemon(t, spec)
	d.ReadLog()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	var log string
	waitFor(t, "both children", func() bool {
		b, _ := os.ReadFile(d.LogFile())
		log = string(b)
		return strings.Count(log, "child=") == 2
	}, func() string { return log })
	kids := childPIDs(log)
	for _, k := range kids {
		t.Cleanup(func() { reapOrphan(t, k) })
	}
	if len(kids) != 2 {
		t.Fatalf("children %v from log %q", kids, log)
	}
	waitState(t, d, Running)
	st := d.Status()
	if st.TreeCPU < 0 || st.TreeProcs == 0 {
		t.Errorf("tree usage %v cpu, %d procs: want cpu known, procs known or -1", st.TreeCPU, st.TreeProcs)
	}
	for _, k := range kids {
		if !d.containHolds(k) {
			t.Fatalf("child %d is not in the daemon's cgroup", k)
		}
	}
	cg := d.ct.cg.path
	d.Stop()
	waitState(t, d, Stopped)
	for _, k := range kids {
		if pidAlive(k) {
			t.Errorf("child %d outlived its daemon", k)
		}
	}
	if _, err := os.Stat(cg); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup %s left after the stop: %v", cg, err)
	}
	if err := d.Start(nil); err != nil { // never refused for leftovers
		t.Fatal(err)
	}
}

// The main process exits and leaves a child that closed the lock: with
// KillCgroup it is still the daemon's (a Zombie), and Stop ends it.
func TestCgroupLeftoverTracked(t *testing.T) {
	t.Parallel()
	spec := cgroupSpec(t, "leaver", `setsid sh -c 'exec 3>&-; exec sleep 1000' & echo child=$!; sleep 0.2; exit 0`)
	d := newDaemon(t, spec)
	d.ReadLog()
	if err := d.Start(nil); err != nil {
		t.Fatal(err)
	}
	kids := childPIDs(waitLog(t, d, "child="))
	for _, k := range kids {
		t.Cleanup(func() { reapOrphan(t, k) })
	}
	waitState(t, d, Zombie)
	if err := d.Start(nil); !errors.Is(err, ErrZombie) {
		t.Fatalf("Start of the zombie = %v", err)
	}
	d.ForceStop()
	waitState(t, d, Stopped)
	for _, k := range kids {
		if pidAlive(k) {
			t.Fatalf("child %d left", k)
		}
	}
}

// A second controller finds the cgroup and uses it: it adopts the daemon,
// sees the tree, and its Stop ends all of it.
func TestCgroupAdoptedByAnother(t *testing.T) {
	t.Parallel()
	spec := cgroupSpec(t, "shared", `setsid sleep 1000 & echo child=$!; exec sleep 1001`)
	d1 := newDaemon(t, spec)
	d1.ReadLog()
	if err := d1.Start(nil); err != nil {
		t.Fatal(err)
	}
	kids := childPIDs(waitLog(t, d1, "child="))
	for _, k := range kids {
		t.Cleanup(func() { reapOrphan(t, k) })
	}
	waitState(t, d1, Running)
	d2 := newDaemon(t, spec)
	if d2.PID() != d1.PID() || d2.ct == nil || d2.ct.cg == nil || d2.ct.cg.path != d1.ct.cg.path {
		t.Fatalf("the second controller did not find the daemon and its cgroup: pid %d (%d)", d2.PID(), d1.PID())
	}
	d2.Stop()
	waitState(t, d2, Stopped)
	waitState(t, d1, Stopped)
	for _, k := range kids {
		if pidAlive(k) {
			t.Fatalf("child %d left", k)
		}
	}
}

// Two daemons of one name in two pid dirs (two configs) are two daemons:
// each has a cgroup of its own, so starting the second does not kill the
// first (a spawn kills what it finds in its cgroup), and stopping one
// leaves the other running. Seen in a load run: one copy of the CLI tests
// killed the other's daemon of the same name.
func TestCgroupSameNameTwoPidDirs(t *testing.T) {
	t.Parallel()
	one := cgroupSpec(t, "twin", "exec sleep 1000")
	two := testSpec(t, "twin", "")
	two.Command, two.KillMode, two.CgroupBase, two.StartSecs = one.Command, KillCgroup, one.CgroupBase, -1
	d1, d2 := newDaemon(t, one), newDaemon(t, two)
	for _, d := range []*Daemon{d1, d2} {
		if err := d.Start(nil); err != nil {
			t.Fatal(err)
		}
		waitState(t, d, Running)
	}
	if d1.ct.cg.path == d2.ct.cg.path {
		t.Fatalf("both in %s", d1.ct.cg.path)
	}
	if !d1.IsRunning() {
		t.Fatalf("starting the second twin ended the first: %+v", d1.Status())
	}
	d2.Stop()
	waitState(t, d2, Stopped)
	d1.Poll(time.Now())
	if !d1.IsRunning() || d1.State() != Running {
		t.Fatalf("stopping the second twin ended the first: %+v", d1.Status())
	}
	if full, err := d1.ct.cg.populated(); !full {
		t.Fatalf("the first twin's cgroup %s is empty: %v", d1.ct.cg.path, err)
	}
}

// A limit whose controller this machine cannot give is a clear error at
// New, never a silent daemon without it.
func TestCgroupLimitNeedsController(t *testing.T) {
	t.Parallel()
	spec := cgroupSpec(t, "limited", "exec sleep 100")
	for _, tc := range []struct {
		ctl string
		set func(*Spec)
	}{
		{"pids", func(s *Spec) { s.PidsMax = 10 }},
		{"memory", func(s *Spec) { s.MemoryMax = 64 << 20 }},
		{"cpu", func(s *Spec) { s.CPUMax = 0.5 }},
	} {
		if cgroupHas(spec.CgroupBase, tc.ctl) {
			continue // available here: the limit works (TestCgroupPidsMaxStopsForkBomb and co.)
		}
		s := spec
		tc.set(&s)
		d, err := New(s)
		if err == nil {
			d.Close()
			t.Errorf("%s limit without its controller: New accepted it", tc.ctl)
			continue
		}
		if !errors.Is(err, ErrNoController) || !strings.Contains(err.Error(), tc.ctl) {
			t.Errorf("%s limit: New = %v, want ErrNoController naming it", tc.ctl, err)
		}
	}
	s := testSpec(t, "nolimit", "sleep")
	s.PidsMax = 5
	if _, err := New(s); !errors.Is(err, ErrBadSpec) {
		t.Errorf("a limit without KillCgroup: %v", err)
	}
}

// Idle KillCgroup daemons cost nothing: no wake-up (cgroup.events changes
// only when the cgroup empties).
func TestCgroupIdleNoWakeups(t *testing.T) {
	base := cgroupTestBase(t)
	n, idle := 20, 500*time.Millisecond
	if *long {
		n, idle = 100, 10*time.Second
	}
	m := newManager(t, Options{CgroupBase: base})
	for i := range n {
		if err := m.Add(Spec{Name: fmt.Sprint("cg", i), Command: []string{"sleep", "600"}, StartSecs: -1,
			KillMode: KillCgroup}); err != nil {
			t.Fatal(err)
		}
	}
	w := &watcher{t: t, m: m}
	m.Start()
	w.until("all running", func() bool { return allIn(m, Running) })
	for settled := false; !settled; {
		select {
		case <-m.Wake():
			m.Poll(time.Now())
		case <-time.After(100 * time.Millisecond):
			settled = true
		}
	}
	select {
	case <-m.Wake():
		t.Fatal("woken while idle")
	case <-time.After(idle): // an absence can only be waited out
	}
}
