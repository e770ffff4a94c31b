// cli.go: what every command shares: the config it runs on, the names it
// checks, the Manager it opens, and the loop that drives it until done.

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/proclauncher/launcher"
)

// cli is one run of a command.
type cli struct {
	configPath     string // -c; "" to look for it
	stdout, stderr io.Writer
	cmd            *command
	opts           *options
	paint          painter // for stdout
	cfg            *config // once config has loaded it
}

// config loads the config, once.
func (c *cli) config() (*config, error) {
	if c.cfg == nil {
		cfg, err := loadConfig(c.configPath)
		if err != nil {
			return nil, err
		}
		c.cfg = cfg
	}
	return c.cfg, nil
}

// checkNames loads the config and refuses names it does not have.
func (c *cli) checkNames(names []string) error {
	cfg, err := c.config()
	if err != nil {
		return err
	}
	return cfg.checkNames(names)
}

// manager adds the named daemons of the config (all of them when names
// is empty), and those they name in after, to a new Manager: one that
// supervises (up), or one that only acts on requests and leaves
// supervision to the `up` that runs, if one does. Only those daemons'
// files are read. A daemon that cannot be added (its files are not safe,
// say) is left out, with its error in bad: the others go on. The caller
// closes the Manager; the daemons live on.
func (c *cli) manager(supervise bool, names []string) (m *launcher.Manager, bad map[string]error) {
	m = launcher.NewManager(launcher.Options{PIDDir: c.cfg.pidDir, LogDir: c.cfg.logDir, NoSupervise: !supervise})
	bad = map[string]error{}
	for _, spec := range c.cfg.specsOf(names) {
		if err := m.Add(spec); err != nil {
			bad[spec.Name] = err
		}
	}
	return m, bad
}

// specsOf returns the specs of the named daemons and those they run
// after, in config order; all of them when names is empty.
func (c *config) specsOf(names []string) []launcher.Spec {
	want := c.withDeps(names)
	var specs []launcher.Spec
	for _, spec := range c.daemons {
		if want == nil || want[spec.Name] {
			specs = append(specs, spec)
		}
	}
	return specs
}

// lookManager is manager(false, names) for a command that only looks
// (status): the daemons are added from a few goroutines at once, since Add
// reads a daemon's files with the Manager's mutex released; the order they
// are added in, which a start or a stop of many follows, does not matter
// to a look. Status of 3000 running daemons: 0.31 s added one by one,
// 0.26 s so.
func (c *cli) lookManager(names []string) (m *launcher.Manager, bad map[string]error) {
	specs := c.cfg.specsOf(names)
	if len(specs) < 64 { // not worth the goroutines
		return c.manager(false, names)
	}
	m = launcher.NewManager(launcher.Options{PIDDir: c.cfg.pidDir, LogDir: c.cfg.logDir, NoSupervise: true})
	errs := make([]error, len(specs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 2 * runtime.GOMAXPROCS(0) { // file reads wait on the disk, too
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(specs)); i = next.Add(1) - 1 {
				errs[i] = m.Add(specs[i])
			}
		})
	}
	wg.Wait()
	bad = map[string]error{}
	for i, err := range errs {
		if err != nil {
			bad[specs[i].Name] = err
		}
	}
	return m, bad
}

// withDeps returns the named daemons and those they run after, all the
// way down; nil (all) when names is empty.
func (c *config) withDeps(names []string) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	want := map[string]bool{}
	var add func(string)
	add = func(n string) {
		if want[n] {
			return
		}
		want[n] = true
		for _, s := range c.daemons {
			if s.Name == n {
				for _, dep := range s.After {
					add(dep)
				}
			}
		}
	}
	for _, n := range names {
		add(n)
	}
	return want
}

// depsOf returns the daemons that the named ones run after, all the way
// down, that are not named themselves, in config order: what a start of
// the named ones starts first (as systemd's Requires= with After=), or
// they would wait for ever for daemons nobody starts.
func (c *config) depsOf(names []string) []string {
	want := c.withDeps(names)
	var deps []string
	for _, s := range c.daemons {
		if want[s.Name] && !slices.Contains(names, s.Name) {
			deps = append(deps, s.Name)
		}
	}
	return deps
}

// drive runs the Manager's loop until done says so or ctx ends; onEvent
// sees every event. It returns ctx's error, if that ended it.
func drive(ctx context.Context, m *launcher.Manager, done func() bool, onEvent func(launcher.Event)) error {
	m.Poll(time.Now())
	for {
		// Events first: done may depend on what they report.
		for drained := false; !drained; {
			select {
			case ev := <-m.Events():
				if onEvent != nil {
					onEvent(ev)
				}
			default:
				drained = true
			}
		}
		if done() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.Wake():
			m.Poll(time.Now())
		case ev := <-m.Events():
			if onEvent != nil {
				onEvent(ev)
			}
		}
	}
}

// control returns the run func of a command that makes a request of
// the named daemons (start, stop, restart, force-stop, enable, disable).
func control(a action) func(c *cli, names []string) error {
	return func(c *cli, names []string) error { return c.control(a, names) }
}

// control makes a's request of the named daemons (all without names) and
// waits until each got where a takes it, or failed, or --timeout passed.
func (c *cli) control(a action, names []string) error {
	timeout := c.opts.timeout
	if a.reached != nil && timeout <= 0 {
		return &usageError{cmd: c.cmd, msg: "--timeout must be positive"}
	}
	if err := c.checkNames(names); err != nil {
		return err
	}
	if len(names) == 0 {
		names = c.cfg.allNames()
	}
	m, bad := c.manager(false, names)
	defer m.Close()
	var addErrs []error
	for _, n := range names {
		if err := bad[n]; err != nil {
			addErrs = append(addErrs, err)
		}
	}
	names = slices.DeleteFunc(names, func(n string) bool { return bad[n] != nil })
	if len(names) == 0 {
		return errors.Join(addErrs...) // and never a Manager call with no names: that is all of them
	}
	before := map[string]int{}
	for _, n := range names {
		before[n] = daemonOf(m, n).PID()
	}
	var deps []string // what the named ones run after, started first
	var depErr error
	if a.starts {
		deps = slices.DeleteFunc(c.cfg.depsOf(names), func(n string) bool { return bad[n] != nil })
	}
	if len(deps) > 0 {
		depErr = m.Start(deps...) // a start of what is running already does nothing
		// What runs after one that could not be started is not asked:
		// not stopped for a restart, not started.
		for _, e := range launcher.Errors(depErr) {
			names = slices.DeleteFunc(names, func(n string) bool {
				if c.cfg.withDeps([]string{n})[e.Daemon] {
					addErrs = append(addErrs, fmt.Errorf("%s %s: not %sed: %s, which it runs after, could not be started",
						c.cmd.name, n, c.cmd.name, e.Daemon))
					return true
				}
				return false
			})
		}
		if len(names) == 0 {
			return errors.Join(append(addErrs, depErr)...)
		}
	}
	if a.stopFirst {
		// A restart stops all of them first, dependents first, and only
		// then starts them, what they run after first: a daemon never
		// runs while what it runs after is down, nor starts before it
		// runs again.
		names = slices.DeleteFunc(names, func(n string) bool {
			if !daemonOf(m, n).IsEnabled() { // refused, as a start would be, before it is stopped
				addErrs = append(addErrs, &launcher.Error{Op: c.cmd.name, Daemon: n, Err: launcher.ErrDisabled})
				return true
			}
			return false
		})
		if len(names) == 0 {
			return errors.Join(append(addErrs, depErr)...)
		}
		if err := c.stopAll(m, names, timeout); err != nil {
			return errors.Join(append(addErrs, depErr, err)...)
		}
	}
	reqErr := errors.Join(depErr, a.request(m, names...))
	if a.reached == nil {
		return errors.Join(append(addErrs, reqErr)...)
	}
	// A daemon that could not be asked (disabled, say) is not waited for.
	failed := failedDaemons(reqErr)
	var waitFor []string
	for _, n := range names {
		if !failed[n] {
			waitFor = append(waitFor, n)
		}
	}
	cmd, wait := c.cmd.name, c.opts.wait
	reached := func(n string) bool { return a.reached(daemonOf(m, n), wait, before[n]) }
	progress := newProgress(c.stderr, cmd)
	gaveUp := map[string]bool{}                // failed, or cannot start: not waited for
	started := map[string]bool{}               // a start of this command's was seen
	exits := map[string]*launcher.ExitStatus{} // the last exit seen
	var problems []error
	// failedDep returns a daemon that n runs after (directly or not)
	// and that failed to start: n cannot start now.
	var failedDep func(n string) string
	failedDep = func(n string) string {
		for _, dep := range c.cfg.spec(n).After {
			if gaveUp[dep] {
				return dep
			}
			if f := failedDep(dep); f != "" {
				return f
			}
		}
		return ""
	}
	done := func() bool {
		var waiting []string
		for _, n := range waitFor {
			if reached(n) || gaveUp[n] {
				continue
			}
			if dep := failedDep(n); dep != "" && a.starts {
				gaveUp[n] = true
				problems = append(problems, fmt.Errorf("%s %s: not started: %s, which it runs after, failed", cmd, n, dep))
				continue
			}
			waiting = append(waiting, n+" "+daemonOf(m, n).State().String())
		}
		progress.show(waiting)
		return len(waiting) == 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	reported := false // a failure was written to stderr already
	fail := func(ev launcher.Event) {
		gaveUp[ev.Daemon] = true
		msg := fmt.Sprintf("%s %s: %s", cmd, ev.Daemon, describe(ev, exits[ev.Daemon]))
		if !a.starts {
			problems = append(problems, errors.New(msg))
			return
		}
		progress.done()
		c.reportFailure(daemonOf(m, ev.Daemon), msg)
		reported = true
	}
	err := drive(ctx, m, done, func(ev launcher.Event) {
		if !slices.Contains(waitFor, ev.Daemon) && !slices.Contains(deps, ev.Daemon) {
			return // a failure of what it started first is one too
		}
		if ev.Exit != nil {
			exits[ev.Daemon] = ev.Exit
		}
		switch {
		case ev.Reason == launcher.ReasonGaveUp, ev.Err != nil && ev.To == launcher.Stopped:
			fail(ev)
		case a.starts:
			if ev.To == launcher.Starting {
				started[ev.Daemon] = true
			}
			// A daemon that ends after this command started it, and
			// before it returns, failed (supervision may still restart
			// it, in `up`). Without --wait that is seen only while
			// others are awaited: those it runs after, say.
			if ev.To == launcher.Stopped && ev.From != launcher.Stopped && started[ev.Daemon] {
				fail(ev)
			}
		}
	})
	progress.done()
	if err != nil {
		var waiting []string
		for _, n := range waitFor {
			if !reached(n) && !gaveUp[n] {
				waiting = append(waiting, n+" is "+daemonOf(m, n).State().String()+c.waitingOn(m, n))
			}
		}
		why := fmt.Sprintf("gave up waiting after %v", timeout)
		if !errors.Is(err, context.DeadlineExceeded) {
			why = "interrupted while waiting" // SIGINT or SIGTERM, not --timeout
		}
		problems = append(problems, fmt.Errorf("%s: %s: %s", cmd, why, strings.Join(waiting, ", ")))
	}
	if err := errors.Join(append(append(addErrs, reqErr), problems...)...); err != nil {
		return err
	}
	if reported {
		return &exitError{code: 1}
	}
	return nil
}

// stopAll stops the named daemons (in reverse dependency order, as
// Manager.Stop does, whoever carries it out) and waits until all are gone.
func (c *cli) stopAll(m *launcher.Manager, names []string, timeout time.Duration) error {
	if err := m.Stop(names...); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	gone := func() bool {
		for _, n := range names {
			if daemonOf(m, n).State() != launcher.Stopped {
				return false
			}
		}
		return true
	}
	if err := drive(ctx, m, gone, nil); err != nil {
		var left []string
		for _, n := range names {
			if st := daemonOf(m, n).State(); st != launcher.Stopped {
				left = append(left, n+" is "+st.String())
			}
		}
		return fmt.Errorf("%s: gave up waiting after %v for the stop: %s (wanted down now, not started again)",
			c.cmd.name, timeout, strings.Join(left, ", "))
	}
	return nil
}

// waitingOn says which daemons that n runs after do not run: " (after
// db, which is stopped)"; "" when none.
func (c *cli) waitingOn(m *launcher.Manager, n string) string {
	var deps []string
	for _, dep := range c.cfg.spec(n).After {
		if d := daemonOf(m, dep); d != nil && d.State() != launcher.Running {
			deps = append(deps, dep+", which is "+d.State().String())
		}
	}
	if len(deps) == 0 || daemonOf(m, n).State() != launcher.Stopped {
		return ""
	}
	return " (after " + strings.Join(deps, "; ") + ")"
}

// failureLogLines is how much of its log a failed start shows.
const failureLogLines = 10

// reportFailure writes msg and the end of d's log to stderr.
func (c *cli) reportFailure(d *launcher.Daemon, msg string) {
	fmt.Fprintf(c.stderr, "launcher: %s\n", msg)
	lines, err := lastLines(d.LogFile(), failureLogLines)
	if err != nil || len(lines) == 0 {
		return
	}
	fmt.Fprintf(c.stderr, "launcher: the last lines of %s:\n", d.LogFile())
	for _, l := range lines {
		fmt.Fprintf(c.stderr, "  %s\n", l)
	}
}

// failedDaemons names the daemons that err (a join of *launcher.Error)
// is about.
func failedDaemons(err error) map[string]bool {
	out := map[string]bool{}
	for _, le := range launcher.Errors(err) {
		out[le.Daemon] = true
	}
	return out
}

// describe says why ev happened; exit is the daemon's last exit, which
// the zombie → stopped event does not carry.
func describe(ev launcher.Event, exit *launcher.ExitStatus) string {
	s := ev.Reason.String()
	if ev.Exit != nil {
		exit = ev.Exit
	}
	if exit != nil {
		s += ", " + exit.String()
	}
	if ev.Err != nil {
		s += ": " + ev.Err.Error()
	}
	return s
}

// progress shows one line of what is still awaited, on a terminal only.
type progress struct {
	w    io.Writer
	cmd  string
	tty  bool
	last string
}

func newProgress(w io.Writer, cmd string) *progress {
	return &progress{w: w, cmd: cmd, tty: canRewrite(w)}
}

func (p *progress) show(waiting []string) {
	if !p.tty || len(waiting) == 0 {
		return
	}
	line := p.cmd + ": waiting for " + strings.Join(waiting, ", ")
	if line != p.last {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.last = line
	}
}

func (p *progress) done() {
	if p.tty && p.last != "" {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// daemonOf returns the Manager's daemon of that name: one a command added
// (nil for any other name).
func daemonOf(m *launcher.Manager, name string) *launcher.Daemon {
	d, _ := m.Daemon(name)
	return d
}
