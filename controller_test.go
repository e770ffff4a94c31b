//go:build linux

// controller_test.go is the second controller of tests that need one: the
// test binary run again as a controller process (helperController), doing
// one operation named by LAUNCHER_TEST_CONTROLLER (runController).

package launcher

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// runController is a controller process for tests that need a second
// controller: it runs one operation on a daemon named by env and prints
// the outcome on stdout.
func runController(mode string) int {
	switch mode {
	case "reaper":
		return runReaper()
	case "reaper-loop":
		return runReaperLoop()
	case "idle-manager":
		return runIdleManager()
	}
	spec := controllerSpec()
	if m, ok := protocolModes[mode]; ok {
		return m(spec)
	}
	d, err := New(spec)
	if err != nil {
		fmt.Println("new:", err)
		return 1
	}
	switch mode {
	case "start-and-hang": // start, report the pid, then wait to be killed
		if err := d.Start(nil); err != nil {
			fmt.Println("start:", err)
			return 1
		}
		fmt.Println(d.PID())
		os.Stdout.Close()
		time.Sleep(helperLifetime)
	case "race-start": // wait for the go signal on stdin, then Start once
		var b [1]byte
		os.Stdin.Read(b[:])
		err := d.Start(nil)
		switch {
		case err == nil:
			fmt.Println("ok", d.PID())
		case errors.Is(err, ErrBusy):
			fmt.Println("busy")
		default:
			fmt.Println("error:", err)
		}
	}
	d.Close()
	return 0
}

// helperController returns a command running this test binary as a second
// controller process.
func helperController(t *testing.T, mode string, spec Spec) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "LAUNCHER_TEST_CONTROLLER="+mode, "LT_NAME="+spec.Name,
		"LT_PIDDIR="+spec.PIDDir, "LT_LOGDIR="+spec.LogDir, "LT_FUNC="+spec.Func,
		"LT_COMMAND="+strings.Join(spec.Command, "\x1f"))
	return cmd
}

// controllerSpec is the spec a controller process works on, from its
// environment: LT_NAME, LT_PIDDIR, LT_LOGDIR, LT_FUNC or LT_COMMAND (args
// separated by \x1f), and optionally LT_STARTSECS, LT_STOPTIMEOUT,
// LT_READY (notify, fd), LT_WATCHDOG, LT_RESTART (always, on-failure),
// LT_RESTART_DELAY, LT_MAX_RESTART_DELAY, LT_MAXRESTARTS.
func controllerSpec() Spec {
	spec := Spec{Name: os.Getenv("LT_NAME"), Func: "sleep", PIDDir: os.Getenv("LT_PIDDIR"),
		LogDir: os.Getenv("LT_LOGDIR"), StartSecs: -1}
	if c := os.Getenv("LT_COMMAND"); c != "" {
		spec.Func, spec.Command = "", strings.Split(c, "\x1f")
	} else if f := os.Getenv("LT_FUNC"); f != "" {
		spec.Func = f
	}
	dur := func(key string, p *time.Duration) {
		if d, err := time.ParseDuration(os.Getenv(key)); err == nil {
			*p = d
		}
	}
	dur("LT_STARTSECS", &spec.StartSecs)
	dur("LT_STOPTIMEOUT", &spec.StopTimeout)
	dur("LT_WATCHDOG", &spec.WatchdogSec)
	dur("LT_RESTART_DELAY", &spec.RestartDelay)
	dur("LT_MAX_RESTART_DELAY", &spec.MaxRestartDelay)
	switch os.Getenv("LT_READY") {
	case "notify":
		spec.Ready = ReadyNotify
	case "fd":
		spec.Ready = ReadyFD
	}
	switch os.Getenv("LT_RESTART") {
	case "always":
		spec.Restart = RestartAlways
	case "on-failure":
		spec.Restart = RestartOnFailure
	}
	if n, err := strconv.Atoi(os.Getenv("LT_MAXRESTARTS")); err == nil {
		spec.MaxRestarts = n
	}
	return spec
}

// specEnv is the environment that gives a controller process spec (the
// inverse of controllerSpec).
func specEnv(spec Spec) []string {
	env := []string{"LT_NAME=" + spec.Name, "LT_PIDDIR=" + spec.PIDDir, "LT_LOGDIR=" + spec.LogDir,
		"LT_FUNC=" + spec.Func, "LT_COMMAND=" + strings.Join(spec.Command, "\x1f"),
		"LT_STARTSECS=" + spec.StartSecs.String(), "LT_STOPTIMEOUT=" + spec.StopTimeout.String(),
		"LT_WATCHDOG=" + spec.WatchdogSec.String(), "LT_RESTART_DELAY=" + spec.RestartDelay.String(),
		"LT_MAX_RESTART_DELAY=" + spec.MaxRestartDelay.String(), "LT_MAXRESTARTS=" + strconv.Itoa(spec.MaxRestarts)}
	switch spec.Ready {
	case ReadyNotify:
		env = append(env, "LT_READY=notify")
	case ReadyFD:
		env = append(env, "LT_READY=fd")
	}
	switch spec.Restart {
	case RestartAlways:
		env = append(env, "LT_RESTART=always")
	case RestartOnFailure:
		env = append(env, "LT_RESTART=on-failure")
	}
	return env
}

// protocolModes are the controller modes of protocol_test.go. Each prints
// "ready <its pid> ..." first; LT_DATA is the data a Start passes.
var protocolModes = map[string]func(Spec) int{
	// ready-start: say ready, wait for a byte on stdin, Start, then
	// drive the daemon until killed.
	"ready-start": func(spec Spec) int {
		d, ok := ctlNew(spec)
		if !ok {
			return 1
		}
		fmt.Printf("ready %d\n", os.Getpid())
		waitGo()
		err := d.Start(ctlData())
		fmt.Printf("started %d %v\n", d.PID(), err)
		ctlDrive(d, nil)
		return 0
	},
	// ready-restart: start the daemon (or adopt it) and wait until it
	// runs, say ready, wait for a byte on stdin, Restart, then drive the
	// daemon until killed.
	"ready-restart": func(spec Spec) int {
		d, ok := ctlNew(spec)
		if !ok {
			return 1
		}
		if err := d.Start(ctlData()); err != nil {
			fmt.Println("error start:", err)
			return 1
		}
		if !ctlDrive(d, func() bool { return d.State() == Running }) {
			fmt.Println("error: not running:", d.State())
			return 1
		}
		fmt.Printf("ready %d %d\n", os.Getpid(), d.PID())
		waitGo()
		err := d.Restart(ctlData())
		fmt.Printf("restarting %v\n", err)
		ctlDrive(d, nil)
		return 0
	},
	// start-and-run: Start, drive the daemon until it runs (readiness is
	// recorded), say "ready <pid> <daemon pid>", and go on driving it
	// until killed or stdin closes.
	"start-and-run": func(spec Spec) int {
		d, ok := ctlNew(spec)
		if !ok {
			return 1
		}
		if err := d.Start(ctlData()); err != nil {
			fmt.Println("error start:", err)
			return 1
		}
		if !ctlDrive(d, func() bool { return d.State() == Running }) {
			fmt.Println("error: not running:", d.State())
			return 1
		}
		fmt.Printf("ready %d %d\n", os.Getpid(), d.PID())
		eof := stdinEOF()
		ctlDrive(d, func() bool {
			select {
			case <-eof:
				return true
			default:
				return false
			}
		})
		d.Close()
		return 0
	},
	// start-only: Start, say "ready <pid> <daemon pid>", and never look
	// at the daemon again (no Poll) until killed or stdin closes.
	"start-only": func(spec Spec) int {
		d, ok := ctlNew(spec)
		if !ok {
			return 1
		}
		if err := d.Start(ctlData()); err != nil {
			fmt.Println("error start:", err)
			return 1
		}
		fmt.Printf("ready %d %d\n", os.Getpid(), d.PID())
		select {
		case <-stdinEOF():
		case <-time.After(helperLifetime):
		}
		return 0
	},
	// supervise: a Manager that supervises the daemon (started first with
	// LT_START set). It prints "ready <pid>", then "supervising <names>
	// <unix ns>" whenever what it supervises changes and "event ..." for
	// every event, until killed or stdin closes.
	"supervise": func(spec Spec) int {
		m := NewManager(Options{})
		if err := m.Add(spec); err != nil {
			fmt.Println("error add:", err)
			return 1
		}
		if os.Getenv("LT_START") != "" {
			if err := m.Start(spec.Name); err != nil {
				fmt.Println("error start:", err)
			}
		}
		fmt.Printf("ready %d\n", os.Getpid())
		eof := stdinEOF()
		last := "-"
		report := func() {
			s := strings.Join(m.Supervising(), ",")
			if s != last {
				fmt.Printf("supervising %q %d\n", s, time.Now().UnixNano())
				last = s
			}
		}
		report()
		wake, events := m.Wake(), m.Events()
		limit := time.After(helperLifetime)
		for {
			select {
			case <-wake:
				m.Poll(time.Now())
				report()
			case ev := <-events:
				fmt.Println(eventLine(ev))
			case <-eof:
				m.Close()
				return 0
			case <-limit:
				return 0
			}
		}
	},
	// adopt-watch: New (adopting what runs), then print "ready <pid>
	// <state> <daemon pid>" and an "event ..." line for every event until
	// stdin closes. With LT_NOCONN set it never uses the proc connector,
	// as a controller without CAP_NET_ADMIN.
	"adopt-watch": func(spec Spec) int {
		d, ok := ctlNew(spec)
		if !ok {
			return 1
		}
		if os.Getenv("LT_NOCONN") != "" {
			d.lock()
			if d.own.hub != nil {
				d.own.hub.xwFailed = true
			}
			d.unlock()
		}
		evs := d.Poll(time.Now())
		fmt.Printf("ready %d %s %d\n", os.Getpid(), d.State(), d.PID())
		for _, ev := range evs {
			fmt.Println(eventLine(ev))
		}
		eof := stdinEOF()
		wake := d.Wake()
		limit := time.After(helperLifetime)
		for {
			select {
			case <-wake:
				for _, ev := range d.Poll(time.Now()) {
					fmt.Println(eventLine(ev))
				}
			case <-eof:
				d.Close()
				return 0
			case <-limit:
				return 0
			}
		}
	},
}

func ctlNew(spec Spec) (*Daemon, bool) {
	d, err := New(spec)
	if err != nil {
		fmt.Println("error new:", err)
		return nil, false
	}
	return d, true
}

// ctlData is LT_DATA as Start's data (nil when unset).
func ctlData() []byte {
	if v, ok := os.LookupEnv("LT_DATA"); ok && v != "" {
		return []byte(v)
	}
	return nil
}

// waitGo waits for one byte (or EOF) on stdin.
func waitGo() {
	var b [1]byte
	os.Stdin.Read(b[:])
}

// stdinEOF is closed when stdin reaches end of file.
func stdinEOF() <-chan struct{} {
	c := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(c)
	}()
	return c
}

// ctlDrive polls d whenever it wakes until cond holds (forever with a nil
// cond, within helperLifetime); it reports whether cond held.
func ctlDrive(d *Daemon, cond func() bool) bool {
	wake := d.Wake()
	limit := time.After(helperLifetime)
	d.Poll(time.Now())
	for cond == nil || !cond() {
		select {
		case <-wake:
			d.Poll(time.Now())
		case <-limit:
			return false
		}
	}
	return true
}

// eventLine formats an event for a test to parse: "event <daemon> <from>
// <to> <reason> <pid> <exit>", exit being "none" or "<code>/<signal>".
func eventLine(ev Event) string {
	exit := "none"
	if ev.Exit != nil {
		exit = fmt.Sprintf("%d/%d", ev.Exit.Code, int(ev.Exit.Signal))
	}
	return fmt.Sprintf("event %s %s %s %s %d %s", ev.Daemon, ev.From, ev.To, ev.Reason, ev.PID, exit)
}

// innerEnv is this process's environment for a controller child in mode.
func innerEnv(mode string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LAUNCHER_TEST_CONTROLLER=") && !strings.HasPrefix(kv, "LT_INNER=") {
			env = append(env, kv)
		}
	}
	return append(env, "LAUNCHER_TEST_CONTROLLER="+mode)
}

// runReaper stands in for init: a subreaper that runs one controller
// (mode LT_INNER) on its own stdio and reaps it and every daemon
// orphaned to it, promptly, as init does; it exits once none is left.
// So a test's Daemon adopts processes that are not its children.
func runReaper() int {
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	_, err := syscall.ForkExec(os.Args[0], []string{os.Args[0]},
		&syscall.ProcAttr{Env: innerEnv(os.Getenv("LT_INNER")), Files: []uintptr{0, 1, 2}})
	if err != nil {
		fmt.Println("error reaper:", err)
		return 1
	}
	reapUntilNone()
	return 0
}

func reapUntilNone() {
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return
		}
	}
}

// runReaperLoop is a subreaper (as runReaper) that runs one controller
// (mode LT_INNER) per line "run <delay> <base64 JSON env>" on stdin: it
// waits for the controller's "ready" line, writes a byte to its stdin,
// waits delay and SIGKILLs it, then answers "killed <pid> <elapsed>
// <ready line>" (or "error ..."). Orphaned daemons are reaped as they
// end. At end of input it exits once every child is gone.
func runReaperLoop() int {
	unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	stop := make(chan struct{})
	reaped := make(chan struct{})
	go func() {
		defer close(reaped)
		for {
			for {
				var ws unix.WaitStatus
				pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
				if errors.Is(err, unix.EINTR) {
					continue
				}
				if pid <= 0 {
					break
				}
			}
			select {
			case <-sigs:
			case <-stop:
				return
			}
		}
	}()
	base := innerEnv(os.Getenv("LT_INNER"))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) != 3 || f[0] != "run" {
			fmt.Println("error: bad command", in.Text())
			continue
		}
		delay, err1 := time.ParseDuration(f[1])
		raw, err2 := base64.StdEncoding.DecodeString(f[2])
		var extra []string
		err3 := json.Unmarshal(raw, &extra)
		if err := errors.Join(err1, err2, err3); err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(runAndKill(append(base[:len(base):len(base)], extra...), delay))
	}
	close(stop)
	<-reaped
	signal.Stop(sigs)
	reapUntilNone()
	return 0
}

// runAndKill runs one controller for runReaperLoop and kills it delay
// after telling it to go.
func runAndKill(env []string, delay time.Duration) string {
	inR, inW, err := os.Pipe()
	if err != nil {
		return "error: " + err.Error()
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return "error: " + err.Error()
	}
	defer inW.Close()
	defer outR.Close()
	pidfd := -1
	pid, err := syscall.ForkExec(os.Args[0], []string{os.Args[0]}, &syscall.ProcAttr{Env: env,
		Files: []uintptr{inR.Fd(), outW.Fd(), 2}, Sys: &syscall.SysProcAttr{PidFD: &pidfd}})
	inR.Close()
	outW.Close()
	if err != nil {
		return "error: " + err.Error()
	}
	defer unix.Close(pidfd)
	line, _ := bufio.NewReader(outR).ReadString('\n')
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "ready") {
		unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		waitPidfd(pidfd)
		return fmt.Sprintf("error: controller %d said %q", pid, line)
	}
	inW.Write([]byte("g"))
	start := time.Now()
	time.Sleep(delay) // the random point of its work at which the controller dies: what is tested
	unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
	elapsed := time.Since(start)
	waitPidfd(pidfd)
	return fmt.Sprintf("killed %d %s %s", pid, elapsed, line)
}

// waitPidfd waits until the process of pidfd has exited.
func waitPidfd(pidfd int) {
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, -1)
		if n > 0 || err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
	}
}

// runIdleManager supervises LT_N `sleep` daemons in LT_PIDDIR, waits for
// them to run and settle, then counts its wake-ups and its CPU time over
// LT_IDLE, prints "wakes N cpu DURATION", stops them all and exits. It is
// a process of its own so that its CPU time is its own.
func runIdleManager() int {
	n, _ := strconv.Atoi(os.Getenv("LT_N"))
	idle, _ := time.ParseDuration(os.Getenv("LT_IDLE"))
	dir := os.Getenv("LT_PIDDIR")
	m := NewManager(Options{PIDDir: dir, LogDir: dir, EventBuffer: 4 * n})
	defer m.Close()
	for i := range n {
		if err := m.Add(Spec{Name: fmt.Sprintf("idle%05d", i), Command: []string{"sleep", "600"}, StartSecs: -1}); err != nil {
			fmt.Println("add:", err)
			return 1
		}
	}
	m.Start()
	wake, events := m.Wake(), m.Events()
	running := 0
	for running < n { // every daemon confirmed running
		select {
		case <-wake:
			m.Poll(time.Now())
		case ev := <-events:
			if ev.To == Running {
				running++
			}
		case <-time.After(time.Minute):
			fmt.Println("not all running")
			return 1
		}
	}
	for settled := false; !settled; { // what was on its way
		select {
		case <-wake:
			m.Poll(time.Now())
		case <-events:
		case <-time.After(200 * time.Millisecond):
			settled = true
		}
	}
	// The start's garbage collected and returned now, so that the runtime's
	// background sweeping and scavenging of it is not counted as idle cost.
	runtime.GC()
	debug.FreeOSMemory()
	var before, after unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &before)
	wakes := 0
	for end := time.After(idle); end != nil; {
		select {
		case <-wake:
			wakes++
			m.Poll(time.Now())
		case <-end:
			end = nil
		}
	}
	unix.Getrusage(unix.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	fmt.Printf("wakes %d cpu %d\n", wakes, cpu.Nanoseconds())
	m.ForceStop()
	for stopped := 0; stopped < n; { // reaped: nothing left to the test
		select {
		case <-wake:
			m.Poll(time.Now())
		case ev := <-events:
			if ev.To == Stopped {
				stopped++
			}
		case <-time.After(time.Minute):
			return 1
		}
	}
	return 0
}
