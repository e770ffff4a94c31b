// status.go is a daemon's snapshot: what a Status holds, and how a Daemon
// makes one (its text and JSON forms are in text.go).

package launcher

import (
	"os"
	"time"
)

// Status is a snapshot of one daemon.
type Status struct {
	Name   string
	State  State
	Reason Reason // why it entered State
	// Seq is the Seq of the last event this snapshot reflects: a consumer
	// of Events that has not yet read that event is behind the snapshot.
	Seq      uint64
	PID      int         // the main process, 0 when there is none
	Since    time.Time   // when it entered State (zero before the first transition)
	LastExit *ExitStatus // the last exit seen here or by the supervisor (nil: none, or unknown)
	Enabled  bool
	// StatusText is the last STATUS= the daemon sent (ReadyNotify).
	StatusText string
	// Uptime is how long it has been running (Running only).
	Uptime time.Duration
	// CPUTime (user + system) and RSS (bytes) of the main process, read
	// from /proc; zero when there is no process.
	CPUTime time.Duration
	RSS     int64
	// TreeCPU, TreeMemory (bytes) and TreeProcs are the usage of the
	// daemon's whole cgroup (KillCgroup): CPU time, memory.current,
	// pids.current. -1 where unknown (no cgroup, or no such controller).
	TreeCPU    time.Duration
	TreeMemory int64
	TreeProcs  int64
	// Outdated: the process runs another command (or Func) than the
	// spec's: it was started from an older config, and a restart applies
	// this one.
	Outdated bool
	// Problem says what is wrong with the daemon's files, if anything: a
	// pid file naming a process that is not the daemon's, junk, a record
	// that could not be written. Empty when all is well.
	Problem string

	// From the supervisor's shared record (<name>.want, <name>.status), as
	// every controller sees it:
	WantUp      bool      // wanted up
	Supervisor  int       // pid of the Manager that supervises it, 0: none known
	Restarts    int       // restarts made by supervisors
	GaveUp      bool      // the supervisor gave up restarting it
	NextRestart time.Time // when the supervisor restarts it (zero: not scheduled)
}

// Status returns a snapshot of the daemon as of the last Poll or request.
func (d *Daemon) Status() Status {
	enabled := d.IsEnabled()
	d.lock()
	defer d.unlock()
	return d.status(enabled, time.Now())
}

func (d *Daemon) status(enabled bool, now time.Time) Status {
	st := Status{Name: d.spec.Name, State: d.m.state, Reason: d.m.reason, Seq: d.seq, Since: d.m.since,
		LastExit: d.lastExit, Enabled: enabled, StatusText: d.statusText, Problem: d.problem, Outdated: d.outdated,
		WantUp: d.wantRec.Up, Restarts: d.rec.Restarts, GaveUp: d.rec.GaveUp, Supervisor: d.rec.Supervisor}
	if st.LastExit == nil {
		st.LastExit = d.rec.LastExit
	}
	if st.Reason == ReasonNone && st.State == Stopped && d.rec.LastReason != ReasonNone {
		st.Reason, st.Since = d.rec.LastReason, d.rec.Since // what the supervisor saw last
	}
	if d.m.state == Stopped && d.rec.NextRestart.After(now) && !d.rec.GaveUp {
		st.NextRestart = d.rec.NextRestart
	}
	if d.proc != nil && !d.mainExited {
		st.PID = d.proc.pid
		if ps, err := readProcStat(st.PID); err == nil && ps.startTicks == d.proc.start {
			st.CPUTime = time.Duration(ps.cpuTicks) * (time.Second / clockTicks)
			st.RSS = ps.rssPages * int64(os.Getpagesize())
		}
	}
	if d.m.state == Running && !d.m.since.IsZero() {
		st.Uptime = now.Sub(d.m.since)
	}
	d.containUsage(&st)
	return st
}
