package launcher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

var cgroupTestSeq atomic.Int64 // parallel tests make bases

// cgroupTestBase returns a test-unique dir in a cgroup2 tree: the system's
// when one is mounted, else one mounted under t.TempDir() for the test. The
// dir (and any cgroup in it) is removed at cleanup, after the processes.
func cgroupTestBase(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("cgroup tests need root: they create cgroups and spawn into them")
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	mnt := ""
	for _, m := range cgroup2Mounts(mi) {
		if m.root == "/" && unix.Access(m.dir, unix.W_OK) == nil {
			mnt = m.dir
			break
		}
	}
	if mnt == "" {
		dir := t.TempDir()
		if err := unix.Mount("none", dir, "cgroup2", 0, ""); err != nil {
			t.Skipf("no cgroup2 is mounted, and mounting one on %s failed: %v", dir, err)
		}
		t.Cleanup(func() {
			if err := unix.Unmount(dir, 0); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		})
		mnt = dir
	}
	base := fmt.Sprintf("%s/launcher-test-%d-%d", mnt, os.Getpid(), cgroupTestSeq.Add(1))
	if err := os.Mkdir(base, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := removeCgroupTree(base); err != nil {
			t.Errorf("removing the test's cgroups: %v", err)
		}
	})
	return base
}

// cgroupHas reports whether ctl is in dir's cgroup.controllers.
func cgroupHas(dir, ctl string) bool {
	b, _ := os.ReadFile(dir + "/cgroup.controllers")
	return slices.Contains(strings.Fields(string(b)), ctl)
}

// testProc is a process a test caused, pinned by a pidfd.
type testProc struct {
	pid, fd int
	reaped  bool
}

// procSet kills and reaps, at cleanup and by pidfd, every process a test
// spawned or found in the cgroups it spawned into (children that a killed
// parent left to us, the subreaper).
type procSet struct {
	t       *testing.T
	procs   []*testProc
	cgroups []*cgroup
}

func newProcSet(t *testing.T) *procSet {
	s := &procSet{t: t}
	t.Cleanup(s.cleanup)
	return s
}

// spawn forks and execs argv straight into c.
func (s *procSet) spawn(c *cgroup, argv ...string) *testProc {
	s.t.Helper()
	path, err := exec.LookPath(argv[0])
	if err != nil {
		s.t.Skip(err)
	}
	fd, err := c.dirFD()
	if err != nil {
		s.t.Fatal(err)
	}
	defer unix.Close(fd)
	null, err := os.Open(os.DevNull)
	if err != nil {
		s.t.Fatal(err)
	}
	defer null.Close()
	n := null.Fd()
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Env:   []string{"PATH=" + os.Getenv("PATH")},
		Files: []uintptr{n, n, n},
		Sys:   &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd},
	})
	if err != nil {
		s.t.Fatalf("spawning %v into %s: %v", argv, c.path, err)
	}
	if !slices.Contains(s.cgroups, c) {
		s.cgroups = append(s.cgroups, c)
	}
	// Our child, not reaped yet: its pid cannot have been reused.
	p := s.track(pid)
	if p == nil {
		s.t.Fatalf("pidfd_open(%d) of our own child failed", pid)
	}
	return p
}

// track pins pid with a pidfd for cleanup; nil if it is gone already.
func (s *procSet) track(pid int) *testProc {
	if pid <= 1 {
		s.t.Fatalf("track(%d)", pid)
	}
	for _, p := range s.procs {
		if p.pid == pid {
			return p
		}
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil
	}
	p := &testProc{pid: pid, fd: fd}
	s.procs = append(s.procs, p)
	return p
}

// reap reaps p without waiting if it is our child and has exited; done
// also when someone else reaped it (its parent).
func (p *testProc) reap() (done bool, info unix.Siginfo) {
	if p.reaped {
		return true, info
	}
	err := unix.Waitid(unix.P_PIDFD, p.fd, &info, unix.WEXITED|unix.WNOHANG, nil)
	switch {
	case err == nil && siginfoChild(&info).pid != 0:
		p.reaped = true
	case errors.Is(err, unix.ECHILD): // not (yet) ours: its parent lives
		_, err := os.Stat(fmt.Sprintf("/proc/%d", p.pid))
		p.reaped = errors.Is(err, fs.ErrNotExist)
	}
	return p.reaped, info
}

// trackAll tracks the processes in c now: a test that kills them itself
// calls it first, so that cleanup reaps the ones left to us.
func (s *procSet) trackAll(c *cgroup) {
	pids, _ := c.pids()
	for _, pid := range pids {
		if slices.ContainsFunc(s.procs, func(p *testProc) bool { return p.pid == pid }) {
			continue
		}
		if p := s.track(pid); p != nil && !c.contains(pid) {
			p.reaped = true // the pid was reused by another process: leave it
		}
	}
}

func (s *procSet) cleanup() {
	for _, c := range s.cgroups {
		s.trackAll(c)
	}
	for _, p := range s.procs {
		if !p.reaped {
			unix.PidfdSendSignal(p.fd, unix.SIGKILL, nil, 0)
		}
	}
	waitFor(s.t, "the test's processes to be reaped", func() bool {
		all := true
		for _, p := range s.procs {
			done, _ := p.reap()
			all = all && done
		}
		return all
	}, func() string { return fmt.Sprint(s.procs) })
	for _, p := range s.procs {
		unix.Close(p.fd)
	}
}

// waitInotify waits until the inotify fd has fired and cond holds, with
// the test's deadline.
func waitInotify(t *testing.T, ifd int, what string, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	if dl, ok := t.Deadline(); ok && dl.Before(deadline) {
		deadline = dl.Add(-time.Second)
	}
	events := 0
	var buf [4096]byte
	for events == 0 || !cond() {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("timed out waiting for %s: %d inotify events; saw %s", what, events, describe())
		}
		fds := []unix.PollFd{{Fd: int32(ifd), Events: unix.POLLIN}}
		if n, _ := unix.Poll(fds, int(min(left, time.Second)/time.Millisecond)); n > 0 {
			m, _ := unix.Read(ifd, buf[:])
			for off := 0; off+unix.SizeofInotifyEvent <= m; events++ {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	}
}

func TestCgroupSpawnSignalStats(t *testing.T) {
	base := cgroupTestBase(t)
	procs := newProcSet(t)
	c, err := openCgroup(base, "sleeper", cgroupLimits{})
	if err != nil {
		t.Fatal(err)
	}
	p := procs.spawn(c, "sleep", "1000")
	if !c.contains(p.pid) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", p.pid))
		t.Fatalf("pid %d not in %s (rel %s): /proc/pid/cgroup %q", p.pid, c.path, c.rel, b)
	}
	if c.contains(os.Getpid()) {
		t.Errorf("the test process is reported in %s", c.path)
	}
	if pids, err := c.pids(); err != nil || !slices.Equal(pids, []int{p.pid}) {
		t.Errorf("pids() = %v, %v; want [%d]", pids, err, p.pid)
	}
	if pop, err := c.populated(); !pop || err != nil {
		t.Errorf("populated() = %v, %v with a process in it", pop, err)
	}
	st := c.stats()
	for _, k := range []struct {
		file  string
		known bool
	}{{"cpu.stat", st.CPUKnown}, {"memory.current", st.MemoryKnown}, {"pids.current", st.ProcsKnown}} {
		_, err := os.Stat(c.path + "/" + k.file)
		if k.known != (err == nil) {
			t.Errorf("stats %+v: known is %v for %s, whose stat says %v", st, k.known, k.file, err)
		}
	}
	if st.ProcsKnown && st.Procs != 1 || !st.MemoryKnown && st.Memory != 0 || !st.ProcsKnown && st.Procs != 0 {
		t.Errorf("stats %+v with one process", st)
	}
	if err := c.signalAll(unix.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var info unix.Siginfo
	waitFor(t, "sleep to end on SIGTERM", func() bool {
		var done bool
		done, info = p.reap()
		return done
	}, func() string { return fmt.Sprint(c.pids()) })
	if info.Code != 2 || siginfoChild(&info).status != int32(unix.SIGTERM) { // CLD_KILLED
		t.Errorf("sleep ended with code %d status %d, want killed by SIGTERM", info.Code, siginfoChild(&info).status)
	}
	if pop, err := c.populated(); pop || err != nil {
		t.Errorf("populated() = %v, %v after the only process was reaped", pop, err)
	}
	if err := c.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s after remove: %v", c.path, err)
	}
}

func TestCgroupKillSetsidGrandchild(t *testing.T) {
	base := cgroupTestBase(t)
	procs := newProcSet(t)
	name := cgroupName("forker.d", 1, 2)
	c, err := openCgroup(base, name, cgroupLimits{})
	if err != nil {
		t.Fatal(err)
	}
	p := procs.spawn(c, "sh", "-c", "setsid sleep 1000 & exec sleep 1000")
	var g *testProc
	waitFor(t, "a setsid grandchild in the cgroup", func() bool {
		pids, _ := c.pids()
		for _, pid := range pids {
			if st, err := readProcStat(pid); err == nil && pid != p.pid && st.pgrp == pid {
				g = procs.track(pid)
				return g != nil && c.contains(pid)
			}
		}
		return false
	}, func() string { return fmt.Sprint(c.pids()) })

	if err := c.remove(); !errors.Is(err, unix.EBUSY) {
		t.Errorf("remove() of a populated cgroup: %v, want EBUSY", err)
	}
	// A later controller finds the same cgroup by base and name.
	adopted, err := findCgroup(base, name)
	if err != nil || adopted.path != c.path || !adopted.contains(g.pid) {
		t.Fatalf("findCgroup: %+v, %v; want %s holding %d", adopted, err, c.path, g.pid)
	}
	if _, err := findCgroup(base, "nosuch"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("findCgroup of a missing cgroup: %v", err)
	}

	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ifd)
	if _, err := unix.InotifyAddWatch(ifd, adopted.eventsPath(), unix.IN_MODIFY); err != nil {
		t.Fatal(err)
	}
	if pop, _ := adopted.populated(); !pop {
		t.Fatal("not populated before kill")
	}
	if err := adopted.kill(); err != nil {
		t.Fatal(err)
	}
	waitInotify(t, ifd, "cgroup.events to say populated 0", func() bool {
		pop, err := adopted.populated()
		return err == nil && !pop
	}, func() string { b, _ := os.ReadFile(adopted.eventsPath()); return fmt.Sprintf("%q", b) })
	waitFor(t, "both processes to be dead", func() bool { return !pidAlive(p.pid) && !pidAlive(g.pid) },
		func() string { return fmt.Sprint(pidAlive(p.pid), pidAlive(g.pid)) })
	if err := adopted.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := adopted.populated(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("populated() after remove: %v", err)
	}
}

// Without cgroup.kill (Linux < 5.14) kill signals each process.
func TestCgroupKillEach(t *testing.T) {
	procs := newProcSet(t)
	c, err := openCgroup(cgroupTestBase(t), "each", cgroupLimits{})
	if err != nil {
		t.Fatal(err)
	}
	procs.spawn(c, "sh", "-c", "sleep 1000 & exec sleep 1000")
	waitFor(t, "two processes", func() bool { pids, _ := c.pids(); return len(pids) == 2 },
		func() string { return fmt.Sprint(c.pids()) })
	procs.trackAll(c)
	if err := c.killEach(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an empty cgroup", func() bool { pop, err := c.populated(); return err == nil && !pop },
		func() string { return fmt.Sprint(c.pids()) })
}

// A cgroup that holds a process (the controller's own, say) can have
// daemons below it as long as no controller is enabled there.
func TestCgroupBelowProcessesWithoutControllers(t *testing.T) {
	base := cgroupTestBase(t)
	procs := newProcSet(t)
	own, err := openCgroup(base, "own", cgroupLimits{})
	if err != nil {
		t.Fatal(err)
	}
	procs.spawn(own, "sleep", "1000")
	d, err := openCgroup(own.path+"/launcher", "d", cgroupLimits{})
	if err != nil {
		t.Fatal(err)
	}
	p := procs.spawn(d, "sleep", "1000")
	if !d.contains(p.pid) || !own.contains(p.pid) {
		t.Errorf("pid %d: in d %v, in own %v", p.pid, d.contains(p.pid), own.contains(p.pid))
	}
	if pids, _ := own.pids(); len(pids) != 2 {
		t.Errorf("own.pids() = %v, want its process and d's", pids)
	}
}

func TestCgroupLimits(t *testing.T) {
	base := cgroupTestBase(t)
	// nested is not launcher's: its parent, base, enables nothing for it.
	nested := base + "/nested"
	if err := os.Mkdir(nested, 0o755); err != nil {
		t.Fatal(err)
	}
	lims := map[string]cgroupLimits{"memory": {MemoryMax: 64 << 20}, "pids": {PidsMax: 10},
		"cpu": {CPUQuota: 50 * time.Millisecond}}
	for ctl, lim := range lims {
		_, err := openCgroup(nested, "d", lim)
		if !errors.Is(err, ErrNoController) || errors.Is(err, ErrNoCgroup) || !strings.Contains(err.Error(), ctl) {
			t.Errorf("%s limit without the controller: %v; want ErrNoController naming it", ctl, err)
		}
		if _, err := os.Stat(nested + "/d"); err == nil {
			t.Errorf("%s: openCgroup left %s/d behind", ctl, nested)
		}
	}
	// mine is made by openCgroup, so launcher's: it enables what base
	// offers, in base too, and fails clearly on what base lacks.
	for ctl, lim := range lims {
		c, err := openCgroup(base+"/mine", "d", lim)
		if cgroupHas(base, ctl) {
			if err != nil {
				t.Errorf("%s limit with the controller in %s: %v", ctl, base, err)
			} else if !cgroupHas(c.path, ctl) {
				t.Errorf("%s not enabled for %s", ctl, c.path)
			}
		} else if !errors.Is(err, ErrNoController) || !strings.Contains(err.Error(), ctl) {
			t.Errorf("%s limit, controller not in %s: %v; want ErrNoController", ctl, base, err)
		}
	}
	if _, err := unix.Getxattr(base+"/mine", baseMark, nil); err != nil {
		t.Logf("no %s mark on a base launcher made: %v", baseMark, err)
	}
	if _, err := openCgroup(base, "d", cgroupLimits{PidsMax: -1}); err == nil {
		t.Error("negative limit accepted")
	}
}

// limitBase returns a base of the test's whose children get ctl, or skips.
func limitBase(t *testing.T, ctl string) string {
	base := cgroupTestBase(t)
	if !cgroupHas(base, ctl) {
		root, _ := os.ReadFile(filepath.Dir(base) + "/cgroup.controllers")
		t.Skipf("the %s controller is not available to the test's cgroup %s; the cgroup2 root offers %q (on a hybrid "+
			"layout controllers bound to cgroup v1 are not there, and tests do not unmount the system's hierarchies)",
			ctl, base, strings.TrimSpace(string(root)))
	}
	return base + "/launcher"
}

func TestCgroupPidsMaxStopsForkBomb(t *testing.T) {
	base := limitBase(t, "pids")
	procs := newProcSet(t)
	c, err := openCgroup(base, "bomb", cgroupLimits{PidsMax: 4})
	if err != nil {
		t.Fatal(err)
	}
	procs.spawn(c, "sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1000 & done; exec sleep 1000")
	waitFor(t, "forks to hit pids.max", func() bool {
		n, _ := cgroupInt(c.path+"/pids.events", "max")
		return n > 0
	}, func() string { return fmt.Sprint(c.pids()) })
	if pids, _ := c.pids(); len(pids) > 4 {
		t.Errorf("%d processes under pids.max 4: %v", len(pids), pids)
	}
	if st := c.stats(); !st.ProcsKnown || st.Procs > 4 {
		t.Errorf("stats %+v", st)
	}
}

func TestCgroupMemoryMaxKillsHog(t *testing.T) {
	base := limitBase(t, "memory")
	procs := newProcSet(t)
	c, err := openCgroup(base, "hog", cgroupLimits{MemoryMax: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	writeCgroupFile(c.path+"/memory.swap.max", "0") // where there is swap, do not page out instead
	p := procs.spawn(c, "tail", "/dev/zero")        // buffers forever: no newline comes
	var info unix.Siginfo
	waitFor(t, "the hog to be OOM-killed", func() bool {
		var done bool
		done, info = p.reap()
		return done
	}, func() string { return fmt.Sprint(c.stats()) })
	if n, _ := cgroupInt(c.path+"/memory.events", "oom_kill"); siginfoChild(&info).status != int32(unix.SIGKILL) || n == 0 {
		t.Errorf("hog ended with status %d; %d OOM kills in memory.events", siginfoChild(&info).status, n)
	}
}

func TestFindCgroupBase(t *testing.T) {
	base := cgroupTestBase(t)
	if got, err := findCgroupBase(base); err != nil || got != base {
		t.Errorf("explicit cgroup2 base: %q, %v", got, err)
	}
	for _, dir := range []string{t.TempDir(), base + "/nosuch"} {
		if got, err := findCgroupBase(dir); !errors.Is(err, ErrNoCgroup) {
			t.Errorf("explicit base %s: %q, %v; want ErrNoCgroup", dir, got, err)
		}
	}
	got, err := findCgroupBase("")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(got) != "launcher" || isCgroup2(filepath.Dir(got)) != nil {
		t.Errorf("implicit base %q", got)
	}
	// As root our own cgroup is writable: its "launcher" comes first.
	self, _ := os.ReadFile("/proc/self/cgroup")
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	own, _ := unifiedPath(self)
	var want []string
	for _, m := range cgroup2Mounts(mi) {
		if d, ok := m.dirOf(own); ok {
			want = append(want, filepath.Join(d, "launcher"))
		}
	}
	if len(want) == 0 || got != want[0] {
		t.Errorf("implicit base %q, want the first of %q (own cgroup %s)", got, want, own)
	}
}

func TestCgroupParsing(t *testing.T) {
	mi := `30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime shared:9 - cgroup cgroup rw,memory
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime shared:1 master:2 - cgroup2 cgroup2 rw
41 30 0:37 /system.slice/x.service /mnt/my\040cg rw - cgroup2 none rw
`
	ms := cgroup2Mounts([]byte(mi))
	want := []cgroupMount{{"/", "/sys/fs/cgroup/unified"}, {"/system.slice/x.service", "/mnt/my cg"}}
	if !slices.Equal(ms, want) {
		t.Fatalf("cgroup2Mounts = %q, want %q", ms, want)
	}
	for _, tc := range []struct {
		m        cgroupMount
		cg, want string
	}{
		{ms[0], "/", "/sys/fs/cgroup/unified"},
		{ms[0], "/a/b", "/sys/fs/cgroup/unified/a/b"},
		{ms[1], "/system.slice/x.service/sub", "/mnt/my cg/sub"},
		{ms[1], "/system.slice/x.service", "/mnt/my cg"},
		{ms[1], "/system.slice/x.serviceX", ""},
	} {
		if got, _ := tc.m.dirOf(tc.cg); got != tc.want {
			t.Errorf("%v.dirOf(%s) = %q, want %q", tc.m, tc.cg, got, tc.want)
		}
	}
	if p, ok := unifiedPath([]byte("9:name=systemd:/\n4:memory:/x\n0::/user.slice/u\n")); !ok || p != "/user.slice/u" {
		t.Errorf("unifiedPath = %q, %v", p, ok)
	}
	// One name in two pid dirs: two cgroups; one dir: always the same one.
	a, b, a2 := cgroupName("web", 34, 1001), cgroupName("web", 34, 1002), cgroupName("web", 34, 1001)
	if a == b || a != a2 || !regexp.MustCompile(`^web@[0-9a-f]{8}$`).MatchString(a) {
		t.Errorf("cgroupName: dir 1001 %q (and again %q), dir 1002 %q", a, a2, b)
	}
	if c := cgroupName("cgroup.procs", 34, 1001); !strings.Contains(c, "@") {
		t.Errorf("cgroupName(cgroup.procs) = %q: could be an interface file", c)
	}
}

// stats on made-up files: known only where a file is there and parses.
func TestCgroupStatsKnown(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/cpu.stat", []byte("usage_usec 1500000\nuser_usec 1000000\n"), 0o644)
	os.WriteFile(dir+"/memory.current", []byte("4096\n"), 0o644)
	os.WriteFile(dir+"/pids.current", []byte("garbage\n"), 0o644)
	got := (&cgroup{path: dir}).stats()
	want := cgroupStats{CPU: 1500 * time.Millisecond, CPUKnown: true, Memory: 4096, MemoryKnown: true}
	if got != want {
		t.Errorf("stats = %+v, want %+v", got, want)
	}
	if got := (&cgroup{path: dir + "/none"}).stats(); got != (cgroupStats{}) {
		t.Errorf("stats of nothing = %+v", got)
	}
}
