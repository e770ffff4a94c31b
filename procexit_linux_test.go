package launcher

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The exitWatch helper process (the test binary with LT_EXITWATCH_THREAD
// set): on a byte on stdin it ends one thread of its own, a goroutine
// locked to it returning, prints that thread's id and waits to be killed.
func init() {
	if os.Getenv("LT_EXITWATCH_THREAD") == "" {
		return
	}
	var b [1]byte
	os.Stdin.Read(b[:])
	tid := make(chan int)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		tid <- unix.Gettid()
	}()
	fmt.Println(<-tid)
	time.Sleep(helperLifetime)
	os.Exit(0)
}

func openTestWatch(t *testing.T) *exitWatch {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the proc connector needs CAP_NET_ADMIN: run as root")
	}
	w, err := openExitWatch()
	if err != nil {
		t.Fatalf("openExitWatch: %v", err)
	}
	t.Cleanup(w.close)
	return w
}

// openControl opens a socket that gets every exit message, threads' too,
// to know when the kernel has sent one: it is multicast to every socket
// at once, so when the control has it, the watches had their chance.
func openControl(t *testing.T) *exitWatch {
	t.Helper()
	c := openTestWatch(t)
	if err := c.attach(passWhat(procEventExit)); err != nil {
		t.Fatal(err)
	}
	return c
}

func watchDeadline(t *testing.T) time.Time {
	deadline := time.Now().Add(20 * time.Second)
	if dl, ok := t.Deadline(); ok && dl.Before(deadline) {
		deadline = dl.Add(-time.Second)
	}
	return deadline
}

func readable(t *testing.T, fd int) bool {
	t.Helper()
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 0)
	if err != nil && !errors.Is(err, unix.EINTR) {
		t.Fatalf("poll: %v", err)
	}
	return n > 0
}

// waitReadable waits in poll for fd to turn readable, until the deadline.
func waitReadable(t *testing.T, fd int, what string) {
	t.Helper()
	deadline := watchDeadline(t)
	for {
		ms := time.Until(deadline).Milliseconds()
		if ms <= 0 {
			t.Fatalf("timed out waiting for %s to be readable", what)
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, int(ms))
		if err != nil && !errors.Is(err, unix.EINTR) {
			t.Fatalf("poll %s: %v", what, err)
		}
		if n > 0 {
			return
		}
	}
}

type watchedExit struct {
	pid int
	st  *ExitStatus
}

func (e watchedExit) String() string { return strconv.Itoa(e.pid) + ": " + e.st.String() }

func readExits(w *exitWatch) []watchedExit {
	var got []watchedExit
	w.read(func(pid int, st *ExitStatus) { got = append(got, watchedExit{pid, st}) })
	return got
}

// procEvent is one message as the test decodes it, from the offsets in
// cn_proc.h again rather than from the code under test.
type procEvent struct {
	what      uint32
	pid, tgid int
}

func rawEvents(t *testing.T, fd int) []procEvent {
	var evs []procEvent
	buf := make([]byte, 8192)
	ne := binary.NativeEndian
	for {
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOBUFS) {
			t.Logf("recv: %v", err)
			continue
		}
		if err != nil {
			return evs
		}
		for b := buf[:n]; len(b) >= 16; {
			l := int(ne.Uint32(b))
			if l < 16 || l > len(b) {
				break
			}
			if l >= 60 {
				evs = append(evs, procEvent{ne.Uint32(b[36:]), int(ne.Uint32(b[52:])), int(ne.Uint32(b[56:]))})
			}
			b = b[min((l+3)&^3, len(b)):]
		}
	}
}

// waitEvent reads the control socket until it has had an exit message of
// thread pid of process tgid.
func waitEvent(t *testing.T, control *exitWatch, pid, tgid int) {
	t.Helper()
	var seen []procEvent
	for deadline := watchDeadline(t); ; {
		for _, e := range rawEvents(t, control.fd()) {
			if e.what == procEventExit && e.pid == pid && e.tgid == tgid {
				return
			}
			seen = append(seen, e)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no exit message for %d/%d; saw %v", pid, tgid, seen)
		}
		waitReadable(t, control.fd(), "control socket")
	}
}

// startAdopted starts a process that is not our child, as another
// controller's daemon would be: sh runs script in the background, prints
// its pid and execs sleep, which stays its parent and never reaps it. It
// returns the pid and a pidfd. At cleanup both are killed, by pid, and the
// orphan, which then comes to the test process (the subreaper), reaped.
func startAdopted(t *testing.T, script string, files ...*os.File) (int, int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", "-c", "("+script+") >/dev/null & echo $!; exec sleep 1000")
	cmd.Stdout, cmd.ExtraFiles = w, files
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	pidfd := -1
	t.Cleanup(func() {
		if pidfd >= 0 {
			unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		}
		cmd.Process.Kill()
		cmd.Wait()
		if pidfd >= 0 {
			waitReadable(t, pidfd, "the adopted process's pidfd")
			var info unix.Siginfo
			if err := unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED|unix.WNOHANG, nil); err != nil {
				t.Errorf("reaping the adopted process: %v", err)
			}
			unix.Close(pidfd)
		}
	})
	line, err := bufio.NewReader(r).ReadString('\n')
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	if pid <= 1 {
		t.Fatalf("sh printed %q (%v)", line, err)
	}
	// Until it has exec'd sleep, sh may reap its child.
	var comm []byte
	waitFor(t, "sh to exec sleep", func() bool {
		comm, _ = os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/comm")
		return string(comm) == "sleep\n"
	}, func() string { return strconv.Quote(string(comm)) })
	if pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
		t.Fatal(err)
	}
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); !errors.Is(err, unix.ECHILD) {
		t.Fatalf("waitid on the adopted process: %v, want ECHILD (not our child)", err)
	}
	return pid, pidfd
}

// fakePIDs returns n pids above any pid_max, with pid at index at.
func fakePIDs(n, at, pid int) []int {
	pids := make([]int, n)
	for i := range pids {
		pids[i] = 1<<30 + i
	}
	pids[at] = pid
	return pids
}

// exitAfterPidfd waits for the pidfd of pid to turn readable, then for its
// exit on w. The kernel wakes pidfd waiters (exit_notify) before it sends
// the message (proc_exit_connector), so the message can come just after.
func exitAfterPidfd(t *testing.T, w *exitWatch, pid, pidfd int) []watchedExit {
	t.Helper()
	waitReadable(t, pidfd, "pidfd")
	got := readExits(w)
	if len(got) == 0 {
		t.Logf("the exit message came after the pidfd turned readable")
		waitReadable(t, w.fd(), "exit watch")
		got = readExits(w)
	}
	if len(got) != 1 || got[0].pid != pid {
		t.Fatalf("read %v, want the exit of %d alone", got, pid)
	}
	return got
}

// TestExitWatchKilled: the status of a process that is not our child
// (waitid says ECHILD), killed, is on the socket once its pidfd is
// readable, or comes just after: see exitAfterPidfd.
func TestExitWatchKilled(t *testing.T) {
	w := openTestWatch(t)
	pid, pidfd := startAdopted(t, "exec sleep 1000")
	// The last pid of the last block of compares.
	if err := w.setPIDs(fakePIDs(maxWatchPIDs, maxWatchPIDs-1, pid)); err != nil {
		t.Fatal(err)
	}
	if readable(t, w.fd()) {
		t.Fatalf("socket readable before any exit: %v", readExits(w))
	}
	if err := unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0); err != nil {
		t.Fatal(err)
	}
	got := exitAfterPidfd(t, w, pid, pidfd)
	if s := got[0].st.String(); s != "signal: killed" {
		t.Errorf("status %q, want signal: killed", s)
	}
}

func TestExitWatchExitCode(t *testing.T) {
	w := openTestWatch(t)
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Close()
	pid, pidfd := startAdopted(t, "read x <&3; exit 7", r)
	r.Close()
	// The first pid of the second block.
	if err := w.setPIDs(fakePIDs(300, 255, pid)); err != nil {
		t.Fatal(err)
	}
	wr.Write([]byte("go\n"))
	got := exitAfterPidfd(t, w, pid, pidfd)
	if st := got[0].st; st.Code != 7 || st.Signal != 0 {
		t.Errorf("status %v, want exit status 7", st)
	}
}

// TestExitWatchFilter: the exit of a process not in the set wakes no watch
// but one given more pids than it can compare; a watch given none gets
// nothing, not even the acks of others subscribing.
func TestExitWatchFilter(t *testing.T) {
	none := openTestWatch(t)
	one := openTestWatch(t)
	all := openTestWatch(t)
	control := openControl(t)
	pid, pidfd := startAdopted(t, "exec sleep 1000")
	if err := one.setPIDs([]int{pid}); err != nil {
		t.Fatal(err)
	}
	if err := all.setPIDs(fakePIDs(maxWatchPIDs+1, 0, pid)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	other := cmd.Process.Pid
	waitEvent(t, control, other, other)
	if readable(t, one.fd()) || readable(t, none.fd()) {
		t.Fatalf("the exit of %d (not watched) woke a watch: %v %v", other, readExits(one), readExits(none))
	}
	var seen []watchedExit
	for found := false; !found; {
		waitReadable(t, all.fd(), "the watch of all exits")
		for _, e := range readExits(all) {
			found = found || e.pid == other && e.st.Success()
			seen = append(seen, e)
		}
		if !found && !readable(t, all.fd()) {
			t.Fatalf("the watch of all exits had %v, not %d", seen, other)
		}
	}
	unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	exitAfterPidfd(t, one, pid, pidfd)
	if readable(t, none.fd()) {
		t.Fatalf("the watch of nothing is readable: %v", readExits(none))
	}
}

// TestExitWatchThreads: a thread's exit (process_pid != process_tgid)
// does not pass, not even when every exit does; the process's does, once.
func TestExitWatchThreads(t *testing.T) {
	w := openTestWatch(t)
	all := openTestWatch(t)
	control := openControl(t)
	r, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LT_EXITWATCH_THREAD=1")
	cmd.Stdout = wr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Start()
	wr.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	pid := cmd.Process.Pid
	if err := w.setPIDs([]int{pid}); err != nil {
		t.Fatal(err)
	}
	if err := all.setPIDs(fakePIDs(maxWatchPIDs+1, 0, pid)); err != nil {
		t.Fatal(err)
	}
	stdin.Write([]byte{1})
	line, err := bufio.NewReader(r).ReadString('\n')
	tid, _ := strconv.Atoi(strings.TrimSpace(line))
	if tid <= 0 || tid == pid {
		t.Fatalf("helper printed %q (%v), want the id of a thread other than %d", line, err, pid)
	}
	waitEvent(t, control, tid, pid)
	if readable(t, w.fd()) {
		t.Fatalf("the exit of thread %d of %d woke the watch: %v", tid, pid, rawEvents(t, w.fd()))
	}
	cmd.Process.Signal(syscall.SIGKILL)
	waitEvent(t, control, pid, pid)
	waitReadable(t, w.fd(), "exit watch")
	if evs := rawEvents(t, w.fd()); len(evs) != 1 || evs[0] != (procEvent{procEventExit, pid, pid}) {
		t.Fatalf("the watch had %v, want the exit of %d alone", evs, pid)
	}
	found := false
	for _, e := range rawEvents(t, all.fd()) {
		if e.what != procEventExit || e.pid != e.tgid {
			t.Errorf("the watch of all exits had %+v", e)
		}
		found = found || e.pid == pid
	}
	if !found {
		t.Errorf("the watch of all exits missed %d", pid)
	}
}

func TestExitWatchFilterSize(t *testing.T) {
	if n := len(exitFilter(fakePIDs(maxWatchPIDs, 0, 2), false)); n > unix.BPF_MAXINSNS {
		t.Errorf("filter of %d pids has %d instructions, more than %d", maxWatchPIDs, n, unix.BPF_MAXINSNS)
	}
}

// TestExitWatchUnprivileged: without the privilege, an error to fall back on.
func TestExitWatchUnprivileged(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("runs as a user without CAP_NET_ADMIN")
	}
	w, err := openExitWatch()
	if err == nil {
		w.close()
		t.Skip("the proc connector let us in")
	}
	if !errors.Is(err, unix.EPERM) {
		t.Errorf("openExitWatch: %v, want EPERM", err)
	}
}
