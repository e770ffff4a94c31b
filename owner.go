// owner.go is what a lone Daemon and a Manager share: the one mutex that
// guards their daemons, the hub that wakes them, the heap of deadlines,
// the set of daemons that have work, and the lossless event channel. Poll
// of an owner touches only the daemons that have work.

package launcher

import (
	"container/heap"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// owner drives a set of daemons (one, for a lone Daemon).
type owner struct {
	mu        sync.Mutex
	spawnDone sync.Cond // on mu: a spawn made with mu released ended
	inRound   bool      // a Poll round runs: no spawn releases mu
	openSpawn *Daemon   // the daemon whose request may spawn with mu released
	spawns    int       // spawns under way with mu released
	hub       *hub      // nil where the platform has none
	hubErr    error
	members   []*Daemon // by slot; nil where one was removed
	due       dueHeap
	touched   []*Daemon // daemons with work for this Poll
	spare     []*Daemon // the other buffer of touched, reused so a Poll allocates nothing
	armed     time.Time // the timer's deadline
	// armLater: a round follows the request under way (Manager.each) and
	// arms the timer for the nearest deadline then; arming it now for a
	// deadline that round meets (a start confirmed at once) made a timer
	// expiry and a wake-up per daemon started.
	armLater     bool
	yields       int           // times deliverBeforeSpawn yielded to a receiver (for tests)
	retryAt      time.Time     // when to try again to deliver what did not fit on events
	retryDelay   time.Duration // ... and how long it waited last
	wake         chan struct{}
	done         chan struct{} // closed by close: Run and Shutdown end with it
	events       chan Event    // nil until asked for (lone Daemon) or made (Manager)
	pending      []Event       // events the channel could not take yet
	lastSent     time.Time     // when the consumer last took some (Shutdown's patience)
	closed       bool
	adopted      map[int]*Daemon     // live main processes that are not our children, by pid
	adoptedDirty bool                // ... changed since the proc connector was told
	exits        map[int]*ExitStatus // statuses the proc connector gave, not yet taken
	// roles changes whenever a daemon's lease is taken or given up, or a
	// daemon is added or removed: what Supervising returns may have changed.
	roles atomic.Uint64
}

func newOwner(eventBuffer int) *owner {
	o := &owner{wake: make(chan struct{}, 1), done: make(chan struct{})}
	o.spawnDone.L = &o.mu
	if eventBuffer > 0 {
		o.events = make(chan Event, eventBuffer)
	}
	o.hub, o.hubErr = newHub(o.wake)
	return o
}

// join gives d a slot and watches its pid dir. The caller holds o.mu.
func (o *owner) join(d *Daemon) {
	d.own, d.slot, d.dueIdx = o, len(o.members), -1
	o.members = append(o.members, d)
	if o.hub != nil {
		o.hub.watchDir(d.f.dir, d.f.name, d) // a missing dir is watched once made (watchdir_linux.go)
	}
}

// leave takes d out. The caller holds o.mu.
func (o *owner) leave(d *Daemon) {
	if d.dueIdx >= 0 {
		heap.Remove(&o.due, d.dueIdx)
	}
	if o.hub != nil {
		o.hub.unwatchDir(d.f.dir, d.f.name)
	}
	o.members[d.slot] = nil
	d.left = true // a round that has it in touched passes it by
}

// touch marks d as having work of kind m for the next round.
func (o *owner) touch(d *Daemon, m mark) {
	if d.left {
		return
	}
	if d.marks == 0 {
		o.touched = append(o.touched, d)
	}
	d.marks |= m
}

// poll is one round: it collects what the hub says (ready fds, changed
// files, the timer), the due deadlines, and lets each daemon with work
// act on it. The caller holds o.mu.
func (o *owner) poll(now time.Time) {
	o.inRound = true
	defer func() { o.inRound = false }()
	if o.hub != nil {
		o.hub.collect(func(kind, slot int, events uint32) {
			switch kind {
			case evTimer:
				o.hub.drainTimer()
				o.armed = time.Time{} // it fired: whatever comes next must be armed again
			case evInotify:
				o.hub.readChanges(o.filesChanged)
			case evConnector:
				o.readExits()
			default:
				if slot >= 0 && slot < len(o.members) && o.members[slot] != nil {
					o.touch(o.members[slot], markFor(kind))
				}
			}
		})
		if !pidfdOK() {
			for _, d := range o.members {
				if d != nil && d.proc != nil {
					o.touch(d, markExit)
				}
			}
		}
	}
	if o.hub != nil && !o.hub.recheckAt.IsZero() && !now.Before(o.hub.recheckAt) {
		o.hub.recheck(now, o.filesChanged)
	}
	for len(o.due) > 0 && !now.Before(o.due[0].due) {
		d := heap.Pop(&o.due).(*Daemon)
		d.dueIdx = -1
		o.touch(d, markDue)
	}
	// Daemons with work may give others work (a supervisor starting what
	// waited for a dependency): go on until none is left.
	for len(o.touched) > 0 {
		ds := o.touched
		o.touched = o.spare[:0]
		for _, d := range ds {
			if d.spawning || d.joining {
				// Its request spawns it (or New reads its files) with the
				// mutex released: its work waits (marks kept) until then.
				d.deferred = true
				continue
			}
			m := d.marks
			d.marks = 0
			if d.left {
				continue
			}
			d.drive(now, m)
			o.settle(d, now)
		}
		clear(ds)
		o.spare = ds[:0]
	}
	o.deliver()
	o.syncExits()
	o.armTimer()
	if o.hub != nil {
		o.hub.rearm()
	}
}

// filesChanged marks which of d's files changed (every daemon's when d is
// nil), for the round to act on. The caller holds o.mu.
func (o *owner) filesChanged(d *Daemon, kinds fileKind) {
	if d == nil {
		for _, m := range o.members {
			if m != nil {
				m.dirty |= kinds
				o.touch(m, markFiles)
			}
		}
		return
	}
	d.dirty |= kinds
	o.touch(d, markFiles)
}

// settle passes d's new events to the supervisor and the channel, lets
// the supervisor act, and files d's next deadline. The caller holds o.mu.
func (o *owner) settle(d *Daemon, now time.Time) {
	for first := true; first || len(d.fresh) > 0; first = false {
		evs := d.fresh
		d.fresh = nil
		for _, ev := range evs {
			if d.sv != nil { // supervised: the Manager's policy sees every event
				d.observe(ev, now)
			}
			if o.events != nil {
				o.pending = append(o.pending, ev)
			}
		}
		if d.sv != nil {
			d.settle(now) // and acts after each round or request
		}
	}
	// What the round left to the files: the records of a daemon gone
	// (unless it was started again, over them, with the same lock), and
	// the supervisor's record, written once however much changed.
	d.finishFiles()
	if d.recDirty && d.lease >= 0 {
		d.f.writeStatus(d.rec)
	}
	d.recDirty = false
	if d.exitDirty {
		d.recordExit()
	}
	o.schedule(d, d.nextDue())
	d.publish()
}

// resume gives back to the next round the work that a round passed by
// while d was spawned or joining with the mutex released (deferred). The
// caller holds o.mu.
func (o *owner) resume(d *Daemon) {
	if d.deferred {
		d.deferred = false
		o.touched = append(o.touched, d) // its marks are still set
		o.signal()
	}
}

// schedule files d under deadline t (zero: none) and arms the timer for
// the nearest deadline of all.
func (o *owner) schedule(d *Daemon, t time.Time) {
	switch {
	case t.IsZero() && d.dueIdx >= 0:
		heap.Remove(&o.due, d.dueIdx)
	case t.IsZero():
	case d.dueIdx >= 0:
		d.due = t
		heap.Fix(&o.due, d.dueIdx)
	default:
		d.due = t
		heap.Push(&o.due, d)
	}
	if !o.armLater {
		o.armTimer()
	}
}

// armTimer sets the hub's timer to the nearest deadline, when that
// changed (or the timer fired since).
func (o *owner) armTimer() {
	if o.hub == nil {
		return
	}
	var next time.Time
	if len(o.due) > 0 {
		next = o.due[0].due
	}
	if !o.retryAt.IsZero() && (next.IsZero() || o.retryAt.Before(next)) {
		next = o.retryAt
	}
	if at := o.hub.recheckAt; !at.IsZero() && (next.IsZero() || at.Before(next)) {
		next = at
	}
	if !next.Equal(o.armed) {
		o.hub.arm(next)
		o.armed = next
	}
}

// deliver sends waiting events while the channel has room. What is left
// waits for a later Poll: the timer wakes the caller again a little later
// (not at once, which would spin while a consumer lags).
func (o *owner) deliver() { o.deliverSent() }

// deliverBeforeSpawn is deliver before a spawn in the same round: when an
// event went to a receiver that was waiting for it, it yields the
// processor, so that the receiver runs now, not once this goroutine's fork
// and exec leave it (the woken receiver waits in this P's queue while the
// fork's system call holds it, until another thread steals it). The spawn
// is later by the switch only. With no receiver waiting (the events went
// into the channel's buffer: the loop that polls reads them itself, after
// Poll) there is nobody to yield to, and it does not: the yield then ran
// whatever else was runnable first, before the spawn.
func (o *owner) deliverBeforeSpawn() {
	if _, handed := o.deliverSent(); handed > 0 {
		o.yields++
		runtime.Gosched()
	}
}

// deliverSent is deliver, saying how many events it sent, and how many of
// those went straight to a receiver that waited on the channel (a send
// to a waiting receiver bypasses the buffer: its length does not grow).
func (o *owner) deliverSent() (sent, handed int) {
	if o.events == nil || len(o.pending) == 0 {
		return 0, 0
	}
loop:
	for _, ev := range o.pending {
		queued := len(o.events)
		select {
		case o.events <- ev:
			sent++
			if len(o.events) <= queued {
				handed++
			}
		default:
			break loop
		}
	}
	o.pending = o.pending[:copy(o.pending, o.pending[sent:])]
	if sent > 0 {
		o.lastSent = time.Now()
	}
	switch {
	case len(o.pending) == 0:
		o.retryAt, o.retryDelay = time.Time{}, 0
	case sent > 0 || o.retryDelay == 0:
		o.retryDelay = deliverRetry
	default: // the consumer took nothing since: look less often
		o.retryDelay = min(2*o.retryDelay, deliverRetryMax)
	}
	if len(o.pending) > 0 {
		o.retryAt = time.Now().Add(o.retryDelay)
		o.armTimer()
	}
	return sent, handed
}

// deliverRetry is how soon events that did not fit on Events are tried
// again, doubling up to deliverRetryMax while the consumer takes none.
const (
	deliverRetry    = 2 * time.Millisecond
	deliverRetryMax = 250 * time.Millisecond
)

// waitSpawn waits while d is being spawned by a request of another
// goroutine (with the mutex released around the fork and exec): one spawn,
// not a blocking wait on anything outside. The caller holds o.mu.
func (o *owner) waitSpawn(d *Daemon) {
	for d.spawning {
		o.spawnDone.Wait()
	}
}

// signal sends a wake-up without ever blocking.
func (o *owner) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// startWaker starts the hub's goroutine for Wake. The caller holds o.mu.
func (o *owner) startWaker() {
	if o.hub != nil && !o.closed {
		o.hub.start()
	}
}

// close stops the goroutine and closes the channel. The caller holds o.mu.
func (o *owner) close() {
	if o.closed {
		return
	}
	o.closed = true
	close(o.done)
	if o.hub != nil {
		o.hub.close()
	}
	if o.events != nil {
		close(o.events)
	}
}

// What a registration in the hub's epoll set is; the slot says whose.
const (
	evPidfd     = iota + 1 // a daemon's main process exited
	evNotify               // a daemon's sd_notify socket has datagrams
	evReady                // a daemon's readiness file was written
	evTimer                // the nearest deadline is due
	evInotify              // a watched pid dir changed
	evConnector            // the proc connector has exits of adopted daemons
	evLog                  // a watched log grew (rotation)
)

// mark is the work a daemon has in a round, as a bit set.
type mark uint8

const (
	markExit   mark = 1 << iota // its pidfd fired
	markNotify                  // its notify socket has datagrams
	markReady                   // its readiness FIFO has a line or hung up
	markFiles                   // its files changed (Daemon.dirty says which)
	markDue                     // its deadline is due
	markLog                     // its log grew
	markAll    = markExit | markNotify | markReady | markFiles | markDue | markLog
)

func markFor(kind int) mark {
	switch kind {
	case evPidfd:
		return markExit
	case evNotify:
		return markNotify
	case evReady:
		return markReady
	case evLog:
		return markLog
	}
	return markAll
}

// dueHeap orders daemons by their next deadline.
type dueHeap []*Daemon

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].dueIdx, h[j].dueIdx = i, j
}
func (h *dueHeap) Push(x any) {
	d := x.(*Daemon)
	d.dueIdx = len(*h)
	*h = append(*h, d)
}
func (h *dueHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	d.dueIdx = -1
	return d
}

// watchExit puts d's main process in the proc connector's set when it is
// not our child (adopted): its status comes from there. The set is given
// to the kernel once per round.
func (o *owner) watchExit(d *Daemon) {
	if o.hub == nil || d.proc == nil || d.proc.own || d.proc.pid <= 1 {
		return
	}
	if o.adopted == nil {
		o.adopted = map[int]*Daemon{}
	}
	o.adopted[d.proc.pid] = d
	o.adoptedDirty = true
}

func (o *owner) unwatchExit(d *Daemon) {
	if d.proc != nil && o.adopted[d.proc.pid] == d {
		delete(o.adopted, d.proc.pid)
		o.adoptedDirty = true
	}
}

// readExits takes the statuses the proc connector reported.
func (o *owner) readExits() {
	o.hub.readExits(func(pid int, st *ExitStatus) {
		if d := o.adopted[pid]; d != nil {
			if o.exits == nil {
				o.exits = map[int]*ExitStatus{}
			}
			o.exits[pid] = st
			o.touch(d, markExit)
		}
	})
}

// connExit returns (once) the status the proc connector gave for pid.
func (o *owner) connExit(pid int) *ExitStatus {
	st := o.exits[pid]
	delete(o.exits, pid)
	return st
}

// syncExits gives the kernel the set of adopted pids, if it changed.
func (o *owner) syncExits() {
	if !o.adoptedDirty || o.hub == nil {
		return
	}
	o.adoptedDirty = false
	pids := make([]int, 0, len(o.adopted))
	for pid := range o.adopted {
		pids = append(pids, pid)
	}
	o.hub.setExitPIDs(pids)
}
