// upready.go: when the daemons of an up have settled, and what up tells
// its service manager (READY=1, STATUS=) about them.

package main

import (
	"fmt"
	"strings"

	"github.com/proclauncher/launcher"
)

// notify sends lines to the service manager, if there is one.
func (u *upRun) notify(lines ...string) {
	if err := u.sd.send(lines...); err != nil && !u.sdFailed {
		fmt.Fprintf(u.c.stderr, "launcher: %v\n", err)
		u.sdFailed = true
	}
}

// notifyState tells the service manager how the daemons are (STATUS=,
// when that changes) and, once none of them is on its way any more,
// READY=1.
func (u *upRun) notifyState() {
	if u.sd == nil {
		return
	}
	if text := u.statusText(); text != u.status {
		u.notify("STATUS=" + text)
		u.status = text
	}
	if !u.ready && u.reload == nil && u.allSettled() {
		u.notify("READY=1")
		u.ready = true
	}
}

// statusText counts the daemons this up supervises by state: "3 running,
// 1 starting".
func (u *upRun) statusText() string {
	counts := map[string]int{}
	sup := u.m.Supervising()
	mine := make(map[string]bool, len(sup))
	for _, n := range sup {
		mine[n] = true
	}
	all := u.m.Status() // one copy of memory, not a Status (a /proc read) per daemon
	for _, st := range all {
		if !mine[st.Name] {
			continue
		}
		key := st.State.String()
		if st.State == launcher.Stopped && st.GaveUp {
			key = "gave up"
		}
		counts[key]++
	}
	var parts []string
	for _, k := range []string{"running", "starting", "stopping", "zombie", "stopped", "gave up"} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	if standby := len(all) - len(sup); standby > 0 {
		parts = append(parts, fmt.Sprintf("standing by for %d", standby))
	}
	if len(parts) == 0 {
		return "no daemons"
	}
	return strings.Join(parts, ", ")
}

// allSettled reports whether none of the daemons this up supervises is
// on its way any more: each runs, or stays down (wanted down, disabled,
// given up, or waiting for a daemon it runs after that stays down). That
// is when up is ready: a daemon that fails to start does not hold up the
// start of the service; STATUS= tells.
func (u *upRun) allSettled() bool {
	for _, n := range u.m.Supervising() {
		if !u.settled(n) {
			return false
		}
	}
	return true
}

func (u *upRun) settled(name string) bool {
	d := daemonOf(u.m, name)
	if d == nil {
		return true
	}
	switch d.State() {
	case launcher.Running:
		return true
	case launcher.Stopped:
		st := d.Status()
		if !st.WantUp || st.GaveUp || !st.Enabled {
			return true
		}
		if !st.NextRestart.IsZero() {
			return false // a restart is coming
		}
		for _, dep := range u.spec(name).After {
			if dd := daemonOf(u.m, dep); dd == nil || dd.State() != launcher.Running && u.settled(dep) {
				return true // waits for one that stays down
			}
		}
	}
	return false
}
