// up.go: `launcher up`: one loop that supervises, prints events, forwards
// signals, reloads, reaps as an init and stops the daemons at the end.

package main

import (
	"cmp"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/proclauncher/launcher"
	"golang.org/x/sys/unix"
)

// upRun is one `launcher up`: its Manager, the config it applies, and what
// it tells the service manager.
type upRun struct {
	c     *cli
	m     *launcher.Manager
	names []string        // the daemons named on the command line; nil: all
	specs []launcher.Spec // the specs in m, in dependency order: the config applied

	sigs chan os.Signal // INT, TERM, HUP, USR1, USR2
	chld chan os.Signal // SIGCHLD, as an init; nil otherwise

	pidDir string
	rec    upRecord // <pid_dir>/.up.<pid>
	recOK  bool     // written: `launcher reload` can find this up

	roles     string // what sayRoles said last
	rolesGen  uint64 // ... at this RolesChanged
	rolesSeen bool
	ends      map[string]string // how each daemon last ended: "" cleanly, else why not
	seen      map[string]uint64 // the Seq of each daemon's last event printed

	reload *reloadRun // a reload waiting for removed daemons to stop
	again  bool       // a SIGHUP came during it: reload again after it

	sd       *sdNotifier // nil without NOTIFY_SOCKET
	sdFailed bool        // a send failed (said once)
	ready    bool        // READY=1 sent since the start or the last reload
	status   string      // the last STATUS= sent
}

// stopGrace is how long up waits for its daemons to stop beyond the
// longest stop_timeout (after which each was sent SIGKILL) before it gives
// up on them (as launcher.Manager's Run does).
const stopGrace = 5 * time.Second

// up supervises in the foreground: it adopts what runs, starts the named
// (or all enabled) daemons, restarts them per their policy and prints
// every event, until SIGINT or SIGTERM; then it stops every daemon it
// supervises (in reverse order) unless --keep, and a second signal kills
// what is left. SIGHUP reloads the config; SIGUSR1 and SIGUSR2 go on to
// the daemons. Where another `up` supervises a daemon already, this one
// stands by for it and takes over when that one goes; it says which. As an
// init (PID 1, or --init) it also reaps orphans; under systemd
// (NOTIFY_SOCKET) it says when it is ready, how its daemons are, and that
// it lives (the watchdog).
func (c *cli) up(names []string) error {
	// Catch the signals first: a signal before Notify would be lost (a
	// shell's background job starts with SIGINT ignored) or kill us with
	// the daemons left unstopped.
	u := &upRun{c: c, sigs: make(chan os.Signal, 8), ends: map[string]string{}}
	signal.Notify(u.sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(u.sigs)
	// What it prints never holds up the supervision (upout.go).
	out := newUpOutputs(c.stdout, c.stderr)
	c.stdout, c.stderr = out.out, out.err
	defer out.close(outFlushWait)
	if c.opts.init || os.Getpid() == 1 {
		u.chld = make(chan os.Signal, 1)
		signal.Notify(u.chld, syscall.SIGCHLD)
		defer signal.Stop(u.chld)
		if err := becomeSubreaper(); err != nil && os.Getpid() != 1 {
			fmt.Fprintf(c.stderr, "launcher: --init: cannot become the reaper of orphans: %v\n", err)
		}
	}
	var err error
	if u.sd, err = newSDNotifier(); err != nil {
		fmt.Fprintf(c.stderr, "launcher: %v\n", err)
	}
	defer u.sd.close()
	if err := c.checkNames(names); err != nil {
		return err
	}
	if len(names) > 0 {
		u.names = names
	}
	m, bad := c.manager(true, names)
	u.m = m
	defer m.Close()
	for _, s := range u.selected(c.cfg) {
		if err := bad[s.Name]; err != nil {
			fmt.Fprintln(c.stderr, err) // the others are supervised all the same
			continue
		}
		u.specs = append(u.specs, s)
	}
	u.writeRecord()
	defer u.removeRecord()
	u.sayRoles()
	sup := m.Supervising()
	for _, st := range m.Status() {
		if st.Outdated && slices.Contains(sup, st.Name) {
			fmt.Fprintf(c.stderr, "launcher: %s runs another command than the config's (it was started from an older config): \"launcher restart %s\" applies it\n", st.Name, st.Name)
		}
	}
	start := append(c.cfg.depsOf(names), names...) // and what they run after
	if len(start) == 0 {
		for _, d := range m.Daemons() {
			if d.IsEnabled() {
				start = append(start, d.Name())
			}
		}
	}
	if len(start) > 0 { // m.Start() would be all of them, disabled ones too
		if err := m.Start(start...); err != nil {
			fmt.Fprintln(c.stderr, err)
		}
	}
	return u.run()
}

// run is up's loop: events, signals, orphans, the watchdog, until SIGINT
// or SIGTERM; then it stops the daemons and returns how they ended.
func (u *upRun) run() error {
	m := u.m
	wake := m.Wake()
	var watchdog <-chan time.Time
	if u.sd != nil && u.sd.watchdog > 0 {
		t := time.NewTicker(u.sd.watchdog)
		defer t.Stop()
		watchdog = t.C
		u.notify("WATCHDOG=1")
	}
	m.Poll(time.Now())
	for {
		u.drain()
		u.settle()
		select {
		case <-wake:
			m.Poll(time.Now())
		case ev := <-m.Events():
			u.event(ev)
		case <-u.chld:
			u.reapOrphans()
		case <-watchdog:
			u.notify("WATCHDOG=1")
		case sig := <-u.sigs:
			switch sig {
			case os.Interrupt, syscall.SIGTERM:
				return u.shutdown(watchdog)
			case syscall.SIGHUP:
				u.startReload()
			default:
				u.forward(sig.(syscall.Signal))
			}
		}
	}
}

// drain prints the events that wait, without waiting.
func (u *upRun) drain() {
	for {
		select {
		case ev := <-u.m.Events():
			u.event(ev)
		default:
			return
		}
	}
}

// event prints ev and notes how a daemon ended.
func (u *upRun) event(ev launcher.Event) {
	fmt.Fprintf(u.c.stdout, "%s %s\n", ev.Time.Format("15:04:05.000"), colourEvent(u.c, ev))
	if u.seen == nil {
		u.seen = map[string]uint64{}
	}
	u.seen[ev.Daemon] = max(u.seen[ev.Daemon], ev.Seq)
	if ev.From == ev.To {
		return
	}
	switch {
	case ev.Reason == launcher.ReasonStopTimeout:
		u.ends[ev.Daemon] = "killed at its stop_timeout"
	case ev.To == launcher.Zombie, ev.To == launcher.Stopped && ev.From != launcher.Zombie:
		u.ends[ev.Daemon] = endProblem(ev, u.spec(ev.Daemon).StopSignal)
	}
}

// endProblem says what was wrong with the end of a daemon's process that
// ev reports, "" when nothing was: it exited with status 0, or a stop was
// asked for and its stop signal ended it (or it went, its status unknown,
// before the SIGKILL of stop_timeout).
func endProblem(ev launcher.Event, stopSignal syscall.Signal) string {
	if stopSignal == 0 {
		stopSignal = syscall.SIGTERM
	}
	e := ev.Exit
	switch {
	case e != nil && e.Code == 0 && e.Signal == 0:
		return ""
	case ev.From == launcher.Stopping && (e == nil || e.Signal == stopSignal):
		return ""
	case ev.Reason == launcher.ReasonRequestedElsewhere && (e == nil || e.Signal == stopSignal || e.Signal == syscall.SIGKILL):
		// Stopped (or force-stopped) by another controller: this one saw
		// no stopping, only the end that was asked for (a standby whose
		// supervisor stopped it on its way out, say).
		return ""
	case e != nil:
		return ev.Reason.String() + ", " + e.String()
	}
	return ev.Reason.String()
}

// settle does what waits on the daemons' states: who supervises what, the
// end of a reload, what the service manager is told.
func (u *upRun) settle() {
	u.sayRoles()
	if u.reload != nil && u.reload.stopped(u.m, time.Now()) {
		u.finishReload()
		if u.again {
			u.again = false
			u.startReload()
		}
	}
	u.notifyState()
}

// sayRoles says which daemons this up supervises and which it stands by
// for, when that changes.
func (u *upRun) sayRoles() {
	gen := u.m.RolesChanged()
	if u.rolesSeen && gen == u.rolesGen {
		return // after every event: the same roles, with no look at all the daemons
	}
	u.rolesGen, u.rolesSeen = gen, true
	sup := u.m.Supervising()
	supervised := make(map[string]bool, len(sup))
	for _, n := range sup {
		supervised[n] = true
	}
	var standby []string
	for _, d := range u.m.Daemons() {
		if !supervised[d.Name()] {
			standby = append(standby, d.Name())
		}
	}
	now := "supervising: " + cmp.Or(strings.Join(sup, " "), "none")
	if len(standby) > 0 {
		now += "; standing by (another up supervises): " + strings.Join(standby, " ")
	}
	if now != u.roles {
		fmt.Fprintln(u.c.stderr, "launcher: "+now)
		u.roles = now
	}
}

// forward sends sig to the daemons this up supervises that have a process.
func (u *upRun) forward(sig syscall.Signal) {
	var names []string
	for _, n := range u.m.Supervising() {
		if d := daemonOf(u.m, n); d != nil && d.PID() != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		fmt.Fprintf(u.c.stderr, "launcher: %s: no daemon runs to forward it to\n", signalName(sig))
		return
	}
	err := u.m.Signal(sig, names...)
	fmt.Fprintf(u.c.stderr, "launcher: %s forwarded to %s\n", signalName(sig), strings.Join(names, " "))
	for _, e := range launcher.Errors(err) {
		fmt.Fprintln(u.c.stderr, "launcher: "+e.Error())
	}
}

// reapOrphans reaps the orphans that ended (as an init); -v says which.
func (u *upRun) reapOrphans() {
	for _, pid := range launcher.ReapOrphans() {
		if u.c.opts.verbose {
			fmt.Fprintf(u.c.stderr, "launcher: reaped orphan pid %d\n", pid)
		}
	}
}

// shutdown stops every daemon this up supervises (unless --keep), waits
// for them (at most the longest stop_timeout and stopGrace; a second
// SIGINT or SIGTERM kills them) and returns how they ended: nil when every
// one ended cleanly, exit status 1 when not.
func (u *upRun) shutdown(watchdog <-chan time.Time) error {
	m := u.m
	u.notify("STOPPING=1")
	if u.c.opts.keep {
		fmt.Fprintln(u.c.stderr, "launcher: leaving the daemons running")
		return nil
	}
	u.reload, u.again = nil, false
	mine := m.Supervising()
	fmt.Fprintln(u.c.stderr, "launcher: stopping the daemons it supervises (again to kill them)")
	longest := time.Duration(0)
	if len(mine) > 0 {
		m.Stop(mine...)
		for _, n := range mine {
			longest = max(longest, daemonOf(m, n).Spec().StopTimeout)
		}
	}
	limit := time.NewTimer(longest + stopGrace)
	defer limit.Stop()
	left := func() []string {
		var out []string
		for _, n := range mine {
			if daemonOf(m, n).State() != launcher.Stopped {
				out = append(out, n)
			}
		}
		return out
	}
	// unseen: all stopped, but not every event printed yet: with more than
	// Events holds (a thousand daemons stopping), the rest wait in the
	// Manager for the next Polls, and an end not printed is an end not
	// judged (the exit status).
	isMine := make(map[string]bool, len(mine))
	for _, n := range mine {
		isMine[n] = true
	}
	unseen := func() bool {
		for _, st := range m.Status() { // a copy of memory, no usage read
			if st.Seq > u.seen[st.Name] && isMine[st.Name] {
				return true
			}
		}
		return false
	}
	wake := m.Wake()
	killed := false
	m.Poll(time.Now())
	for {
		u.drain()
		u.sayRoles()
		u.notifyState()
		if len(left()) == 0 && !unseen() {
			break
		}
		select {
		case <-wake:
			m.Poll(time.Now())
		case ev := <-m.Events():
			u.event(ev)
		case <-u.chld:
			u.reapOrphans()
		case <-watchdog:
			u.notify("WATCHDOG=1")
		case sig := <-u.sigs:
			switch sig {
			case os.Interrupt, syscall.SIGTERM:
				if !killed && len(mine) > 0 {
					fmt.Fprintln(u.c.stderr, "launcher: killing them")
					m.ForceStop(mine...)
					killed = true
				}
			case syscall.SIGHUP:
				fmt.Fprintln(u.c.stderr, "launcher: SIGHUP: stopping; not reloading")
			default:
				u.forward(sig.(syscall.Signal))
			}
		case <-limit.C:
			fmt.Fprintf(u.c.stderr, "launcher: gave up waiting after %v for: %s\n", longest+stopGrace, strings.Join(left(), ", "))
			return &exitError{code: 1}
		}
	}
	var unclean []string
	for _, n := range mine {
		if why := u.ends[n]; why != "" {
			unclean = append(unclean, n+" ("+why+")")
		}
	}
	if len(unclean) > 0 {
		fmt.Fprintf(u.c.stderr, "launcher: not every daemon ended cleanly: %s\n", strings.Join(unclean, ", "))
		return &exitError{code: 1}
	}
	return nil
}

// selected returns the specs of cfg that this up supervises: those named
// on its command line and those they run after, or all.
func (u *upRun) selected(cfg *config) []launcher.Spec { return cfg.specsOf(u.names) }

// spec returns the applied spec of the daemon called name.
func (u *upRun) spec(name string) launcher.Spec {
	for _, s := range u.specs {
		if s.Name == name {
			return s
		}
	}
	return launcher.Spec{Name: name}
}

// colourEvent is ev's line, red when something went wrong.
func colourEvent(c *cli, ev launcher.Event) string {
	s := ev.String()
	switch ev.Reason {
	case launcher.ReasonCrashed, launcher.ReasonStartFailed, launcher.ReasonGaveUp, launcher.ReasonStopTimeout:
		return c.paint.paint(red, s)
	}
	return s
}

// signalName is "SIGUSR1".
func signalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return "signal " + strconv.Itoa(int(sig))
}
