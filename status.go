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
	Enabled  bool        // no <name>.disabled, as of the last Poll or Enable/Disable here
	// StatusText is the last STATUS= the daemon sent (ReadyNotify).
	StatusText string
	// Uptime is how long it has been running (Running only).
	Uptime time.Duration
	// CPUTime (user + system) and RSS (bytes) of the main process, read
	// from /proc by Daemon.Status; zero when there is no process, and in
	// Manager.Status, which reads nothing.
	CPUTime time.Duration
	RSS     int64
	// TreeCPU, TreeMemory (bytes) and TreeProcs are the usage of the
	// daemon's whole cgroup (KillCgroup): CPU time, memory.current,
	// pids.current, read by Daemon.Status. -1 where unknown (no cgroup, no
	// such controller, or not read: Manager.Status).
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
// It never waits for a Poll or request under way (another goroutine's
// spawn, records being written): it then answers with what the last one
// that ended left. CPUTime, RSS and the tree's usage are read at the call
// (/proc/<pid>/stat, and the cgroup's files with KillCgroup), with no lock
// held; Uptime is counted to now. Safe for concurrent use.
func (d *Daemon) Status() Status {
	s := d.current()
	st := s.st
	d.complete(&st, time.Now())
	if st.PID != 0 {
		if ps, err := readProcStat(st.PID); err == nil && ps.startTicks == s.start {
			st.CPUTime = time.Duration(ps.cpuTicks) * (time.Second / clockTicks)
			st.RSS = ps.rssPages * int64(os.Getpagesize())
		}
	}
	treeUsage(s.tree, &st)
	return st
}

// snap is what Status shows of a daemon but what is read at the call.
// Each request, round and New publishes it (under snapMu, a mutex held
// only to copy it), so that a Status made while the owner's mutex is busy
// answers at once.
type snap struct {
	st    Status // without the live parts
	start uint64 // the main process's start time, to read /proc by
	tree  treeSource
}

// publish makes d's snap what it is now. The caller holds the owner's
// mutex.
func (d *Daemon) publish() {
	st := Status{Name: d.spec.Name, State: d.m.state, Reason: d.m.reason, Seq: d.seq, Since: d.m.since,
		LastExit: d.lastExit, StatusText: d.statusText, Problem: d.problem, Outdated: d.outdated,
		WantUp: d.wantRec.Up, Restarts: d.rec.Restarts, GaveUp: d.rec.GaveUp, Supervisor: d.rec.Supervisor}
	if st.LastExit == nil {
		st.LastExit = d.rec.LastExit
	}
	if st.Reason == ReasonNone && st.State == Stopped && d.rec.LastReason != ReasonNone {
		st.Reason, st.Since = d.rec.LastReason, d.rec.Since // what the supervisor saw last
	}
	if d.m.state == Stopped && !d.rec.GaveUp {
		st.NextRestart = d.rec.NextRestart // if still ahead when asked
	}
	s := snap{st: st, tree: d.treeSource()}
	if d.proc != nil && !d.mainExited {
		s.st.PID, s.start = d.proc.pid, d.proc.start
	}
	d.snapMu.Lock()
	d.snap = s
	d.snapMu.Unlock()
}

// current is d's snap: made now when the owner's mutex is free, else the
// last one published.
func (d *Daemon) current() snap {
	if d.own.mu.TryLock() {
		d.publish()
		d.own.mu.Unlock()
	}
	d.snapMu.Lock()
	defer d.snapMu.Unlock()
	return d.snap
}

// publishedInto copies the Status of d's snap, as the last round, request
// or New published it, into st, and completes it (no usage read).
func (d *Daemon) publishedInto(st *Status, now time.Time) {
	d.snapMu.Lock()
	*st = d.snap.st
	d.snapMu.Unlock()
	d.complete(st, now)
}

// complete fills in what changes without an event: the enabled mark, the
// uptime, a restart time passed. The usage is left unread (zero, and -1
// for the tree's).
func (d *Daemon) complete(st *Status, now time.Time) {
	st.Enabled = !d.flag(flagDisabled)
	if !d.flag(flagDirWatched) {
		// Nothing tells when it changes: a look (kept to itself: stored,
		// it could undo what a round that watches the dir again read).
		off, _ := d.f.isDisabled()
		st.Enabled = !off
	}
	if !st.NextRestart.After(now) {
		st.NextRestart = time.Time{}
	}
	if st.State == Running && !st.Since.IsZero() {
		st.Uptime = now.Sub(st.Since)
	}
	st.TreeCPU, st.TreeMemory, st.TreeProcs = -1, -1, -1
}
