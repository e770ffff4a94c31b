// reload.go: what a reload of up's config changes (the plan), and up
// carrying it out without blocking its loop.

package main

// Reloading the config in a running `up` (SIGHUP, or `launcher reload`),
// supervisorctl-update style: daemons added are started, daemons removed
// are stopped and let go, daemons whose spec changed are restarted with the
// new one, the others are left alone.

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/proclauncher/launcher"
)

// reloadPlan says what a reload does, daemon by daemon.
type reloadPlan struct {
	added, removed, changed, unchanged []string
	// relinked are unchanged daemons that run after a removed or changed
	// one: Manager.Remove refuses a daemon that another names in After, so
	// they go out first and come back as they are (adopted, not restarted).
	relinked []string
	// out is every daemon taken out of the Manager (removed, changed,
	// relinked), dependents first: the reverse of the old order.
	out []string
}

// planReload compares the specs applied (old) with the new config's (new),
// each in dependency order.
func planReload(old, new []launcher.Spec) reloadPlan {
	var p reloadPlan
	oldBy := map[string]launcher.Spec{}
	for _, s := range old {
		oldBy[s.Name] = s
	}
	newBy := map[string]bool{}
	for _, s := range new {
		newBy[s.Name] = true
		o, ok := oldBy[s.Name]
		switch {
		case !ok:
			p.added = append(p.added, s.Name)
		case !specsEqual(o, s):
			p.changed = append(p.changed, s.Name)
		default:
			p.unchanged = append(p.unchanged, s.Name)
		}
	}
	goOut := map[string]bool{}
	for _, s := range old {
		if !newBy[s.Name] {
			p.removed = append(p.removed, s.Name)
			goOut[s.Name] = true
		}
	}
	for _, n := range p.changed {
		goOut[n] = true
	}
	// old is in dependency order: one pass finds dependents of dependents.
	for _, s := range old {
		if goOut[s.Name] {
			continue
		}
		if slices.ContainsFunc(s.After, func(a string) bool { return goOut[a] }) {
			goOut[s.Name] = true
			p.relinked = append(p.relinked, s.Name)
		}
	}
	p.unchanged = slices.DeleteFunc(p.unchanged, func(n string) bool { return goOut[n] })
	for i := len(old) - 1; i >= 0; i-- {
		if goOut[old[i].Name] {
			p.out = append(p.out, old[i].Name)
		}
	}
	return p
}

// specsEqual compares two parsed specs field by field (all of them: a
// daemon whose spec differs in anything is restarted), an empty list the
// same as none.
func specsEqual(a, b launcher.Spec) bool {
	norm := func(s launcher.Spec) launcher.Spec {
		if len(s.Command) == 0 {
			s.Command = nil
		}
		if len(s.Env) == 0 {
			s.Env = nil
		}
		if len(s.After) == 0 {
			s.After = nil
		}
		if len(s.Data) == 0 {
			s.Data = nil
		}
		return s
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// reloadRun is a reload under way: its removed daemons are stopping.
type reloadRun struct {
	cfg      *config
	plan     reloadPlan
	readAt   int64           // bootClock when cfg was read
	stopping []string        // removed daemons this up stops first
	hadProc  map[string]bool // which of them had a process then
	deadline time.Time       // when to stop waiting for them
}

// stopped reports whether the removed daemons are stopped, or the time to
// wait for them is up.
func (r *reloadRun) stopped(m *launcher.Manager, now time.Time) bool {
	if !now.Before(r.deadline) {
		return true
	}
	for _, n := range r.stopping {
		if d := daemonOf(m, n); d != nil && d.State() != launcher.Stopped {
			return false
		}
	}
	return true
}

// startReload reads the config again and starts applying it: the removed
// daemons stop first; finishReload does the rest once they are stopped. A
// config that cannot be applied changes nothing, and up says why.
func (u *upRun) startReload() {
	if u.reload != nil {
		u.again = true
		fmt.Fprintln(u.c.stderr, "launcher: SIGHUP: a reload is under way; another follows it")
		return
	}
	fmt.Fprintln(u.c.stderr, "launcher: SIGHUP: reloading "+u.c.cfg.file)
	if u.sd != nil {
		if err := u.sd.reloading(); err != nil && !u.sdFailed {
			fmt.Fprintf(u.c.stderr, "launcher: %v\n", err)
			u.sdFailed = true
		}
		u.ready = false // READY=1 again once settled
	}
	readAt := bootClock()
	cfg, err := u.c.cfg.reread()
	var plan reloadPlan
	if err == nil {
		plan = planReload(u.specs, u.selected(cfg))
		err = u.checkReload(cfg, plan)
	}
	if err != nil {
		// One write: a reader of the output sees all of it or none.
		msg := "launcher: reload: nothing changed:\n"
		for _, line := range strings.Split(err.Error(), "\n") {
			msg += "launcher:   " + line + "\n"
		}
		fmt.Fprint(u.c.stderr, msg)
		u.rec.Reloads++
		u.rec.ReadAt, u.rec.Lines, u.rec.Unchanged, u.rec.Error = readAt, nil, nil, err.Error()
		u.updateRecord()
		return
	}
	r := &reloadRun{cfg: cfg, plan: plan, readAt: readAt, hadProc: map[string]bool{}, deadline: time.Now()}
	sup := u.m.Supervising()
	longest := time.Duration(0)
	for _, n := range plan.removed {
		if d := daemonOf(u.m, n); d != nil && slices.Contains(sup, n) {
			r.stopping = append(r.stopping, n)
			r.hadProc[n] = d.State() != launcher.Stopped
			longest = max(longest, d.Spec().StopTimeout)
		}
	}
	if len(r.stopping) > 0 {
		// Dependents first: the Manager stops a daemon once those being
		// stopped that run after it are stopped.
		if err := u.m.Stop(r.stopping...); err != nil {
			fmt.Fprintln(u.c.stderr, err)
		}
		r.deadline = time.Now().Add(longest + stopGrace)
	}
	u.reload = r
}

// checkReload refuses a new config that cannot be applied, before
// anything is changed: one that moves the pid dir (its daemons would be
// lost track of), or a new or changed spec that the library refuses (an
// unknown user, say; launcher.New checks it as Add would, and creates
// nothing).
func (u *upRun) checkReload(cfg *config, plan reloadPlan) error {
	if old, now := u.c.cfg.pidDirPath(), cfg.pidDirPath(); old != now {
		return fmt.Errorf("pid_dir changed from %s to %s: a reload cannot move daemons; restart up instead", old, now)
	}
	var errs []error
	for _, s := range cfg.daemons {
		if !slices.Contains(plan.added, s.Name) && !slices.Contains(plan.changed, s.Name) {
			continue
		}
		d, err := launcher.New(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.Close()
	}
	return errors.Join(errs...)
}

// finishReload applies the rest of the reload once the removed daemons
// are stopped: out go the removed, changed and relinked daemons
// (dependents first), in come the new specs (in dependency order); added
// ones start, changed ones restart. It says what it did, and writes it to
// the up record for `launcher reload`.
func (u *upRun) finishReload() {
	r := u.reload
	u.reload = nil
	m, p := u.m, r.plan
	lines := map[string]string{}
	// What each daemon going out was, before it goes.
	before := map[string]launcher.Status{}
	supervised := map[string]bool{}
	for _, n := range m.Supervising() {
		supervised[n] = true
	}
	for _, n := range p.out {
		if d := daemonOf(m, n); d != nil {
			before[n] = d.Status()
		}
	}
	for _, n := range p.out {
		if err := m.Remove(n); err != nil {
			lines[n] = "not reloaded: " + err.Error()
		}
	}
	old := map[string]launcher.Spec{}
	for _, s := range u.specs {
		old[s.Name] = s
	}
	var applied []launcher.Spec
	added := map[string]bool{}
	for _, s := range u.selected(r.cfg) {
		if slices.Contains(p.unchanged, s.Name) {
			applied = append(applied, s)
			continue
		}
		if _, failed := lines[s.Name]; failed {
			continue
		}
		err := m.Add(s)
		if err == nil {
			applied = append(applied, s)
			added[s.Name] = true
			continue
		}
		// launcher.New accepted it a moment ago: this is rare. Keep the
		// daemon under the old spec where there is one.
		if o, ok := old[s.Name]; ok {
			if m.Add(o) == nil {
				applied = append(applied, o)
				lines[s.Name] = "not changed (it goes on with the old config): " + err.Error()
				continue
			}
			lines[s.Name] = "no longer supervised: " + err.Error()
			continue
		}
		lines[s.Name] = "not added: " + err.Error()
	}
	nowSup := map[string]bool{}
	for _, n := range m.Supervising() {
		nowSup[n] = true
	}
	otherUp := func(n string) string {
		if pid := before[n].Supervisor; pid != 0 {
			return "up pid " + strconv.Itoa(pid)
		}
		return "another up"
	}
	for _, n := range p.added {
		switch d := daemonOf(m, n); {
		case !added[n]:
		case !nowSup[n]:
			before[n] = d.Status()
			lines[n] = "added; " + otherUp(n) + " supervises it"
		case !d.IsEnabled():
			lines[n] = "added, disabled: not started"
		default:
			if err := m.Start(n); err != nil {
				lines[n] = "added, not started: " + causeOf(err)
			} else {
				lines[n] = "added, started"
			}
		}
	}
	for _, n := range p.changed {
		was := before[n]
		switch {
		case !added[n]:
		case !supervised[n]:
			lines[n] = "changed; " + otherUp(n) + " supervises it: reload that one to restart it"
		case !was.WantUp:
			lines[n] = "changed, not running: the new config applies when it starts"
		default:
			err := m.Restart(n)
			switch {
			case err != nil:
				lines[n] = "changed, not restarted: " + causeOf(err)
			case !nowSup[n]:
				lines[n] = "changed, restart asked of the up that took it over"
			default:
				lines[n] = "changed, restarted"
			}
		}
	}
	for _, n := range p.removed {
		if _, failed := lines[n]; failed {
			continue
		}
		switch {
		case !slices.Contains(r.stopping, n):
			lines[n] = "removed; " + otherUp(n) + " supervises it and goes on"
		case before[n].State != launcher.Stopped:
			lines[n] = "removed, still " + before[n].State.String() + " (no longer supervised)"
		case r.hadProc[n]:
			lines[n] = "removed, stopped"
		default:
			lines[n] = "removed (it was not running)"
		}
		delete(u.ends, n)
	}
	unchanged := slices.Concat(p.unchanged, p.relinked)
	slices.Sort(unchanged)
	u.specs = applied
	u.c.cfg = r.cfg
	// Say it, sorted by name; unchanged daemons only with -v.
	var out []string
	for _, n := range slices.Sorted(maps.Keys(lines)) {
		out = append(out, n+": "+lines[n])
	}
	say := out
	if len(out) == 0 {
		say = []string{"no changes"}
	}
	if u.c.opts.verbose {
		for _, n := range unchanged {
			say = append(say, n+": unchanged")
		}
	}
	fmt.Fprint(u.c.stderr, "launcher: reload: "+strings.Join(say, "\nlauncher: reload: ")+"\n")
	u.rec.Reloads++
	u.rec.ReadAt, u.rec.Lines, u.rec.Unchanged, u.rec.Error = r.readAt, out, unchanged, ""
	u.updateRecord()
}

// causeOf is what went wrong, without the "launcher: op name:" the line
// says already.
func causeOf(err error) string {
	var le *launcher.Error
	if errors.As(err, &le) && le.Err != nil {
		return le.Err.Error()
	}
	return err.Error()
}
