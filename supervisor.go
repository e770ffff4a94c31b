// supervisor.go is a daemon under a Manager's supervision: the lease it
// takes, the events it applies the policy of supervise.go to, the starts
// and stops it carries out (its Manager's, and other controllers' wishes)
// in the order After gives them, and the After graph the Manager keeps.
// The Manager reads none of a Daemon's fields: it keeps the graph in its
// own map of supervision records and asks each Daemon through the methods
// here, under the owner's lock.

package launcher

import (
	"errors"
	"os"
	"slices"
	"syscall"
	"time"
)

// link ties d into the After graph: to the daemons it names that are
// added already, and to those added earlier that name it. A name not added
// yet waits for its Add (a Start of d meanwhile is refused). A cycle is
// refused.
func (m *Manager) link(d *Daemon, sv *supervision) error {
	var after []*Daemon
	var missing []string
	for _, name := range d.Spec().After {
		if dep := m.byName[name]; dep != nil {
			after = append(after, dep)
		} else {
			missing = append(missing, name)
		}
	}
	waiting := m.waiting[d.Name()]
	for _, dep := range after {
		if m.reaches(dep, d, waiting) {
			return detail(ErrBadSpec, "after: %s runs after %s already (a cycle)", dep.Name(), d.Name())
		}
	}
	sv.after, sv.missing = after, missing
	for _, dep := range after {
		m.sv[dep].dependents = append(m.sv[dep].dependents, d)
	}
	for _, name := range missing {
		m.waiting[name] = append(m.waiting[name], d)
	}
	for _, x := range waiting { // added earlier, waiting for d
		xs := m.sv[x]
		xs.after = append(xs.after, d)
		xs.missing = slices.DeleteFunc(xs.missing, func(n string) bool { return n == d.Name() })
		sv.dependents = append(sv.dependents, x)
	}
	delete(m.waiting, d.Name())
	m.sv[d] = sv
	return nil
}

// reaches reports whether from runs after to (directly or not), counting
// the daemons that will run after to once it is added (pending).
func (m *Manager) reaches(from, to *Daemon, pending []*Daemon) bool {
	seen := map[*Daemon]bool{}
	var walk func(x *Daemon) bool
	walk = func(x *Daemon) bool {
		if x == to || slices.Contains(pending, x) && x != from {
			return true
		}
		if seen[x] {
			return false
		}
		seen[x] = true
		for _, y := range m.sv[x].after {
			if walk(y) {
				return true
			}
		}
		return false
	}
	return slices.Contains(pending, from) || walk(from)
}

// supervise makes sv d's supervision record, acting on what <name>.want
// says, and (unless its Manager supervises nothing) watches d's files and
// takes d's lease if it is free, or holds kept (>= 0), the lease its
// Manager kept from a Remove of the same daemon.
func (d *Daemon) supervise(sv *supervision, now time.Time, kept int) {
	d.sv = sv
	sv.wantUp, sv.gen, sv.kill = d.wantRec.Up, d.wantRec.Gen, d.wantRec.Kill
	if sv.noSupervise {
		return
	}
	sv.unwatched = true
	if err := d.f.ensureDirs(); err == nil {
		d.own.hub.watchDir(d.f.dir, d.f.name, d)
		if kept >= 0 {
			d.holdLease(kept, now)
		} else {
			d.tryLease(now)
		}
	}
}

// leased reports whether d's Manager holds d's lease (supervises it).
func (d *Daemon) leased() bool { return d.lease >= 0 }

// tryLease takes d's lease if it is free: from then on its Manager
// supervises d, acting on what is wanted.
func (d *Daemon) tryLease(now time.Time) {
	if d.lease >= 0 || d.own.closed || d.sv.noSupervise {
		return
	}
	fd, got, err := d.f.takeLease()
	if err != nil || !got {
		return
	}
	d.holdLease(fd, now)
}

// holdLease makes d's Manager d's supervisor through fd, a lease it holds
// (taken now, or kept across a Remove and Add of the same daemon).
func (d *Daemon) holdLease(fd int, now time.Time) {
	d.lease = fd
	d.own.roles.Add(1)
	d.readWant()
	d.rec, _ = d.f.readStatus()
	d.rec.Supervisor = os.Getpid()
	d.f.writeStatus(d.rec) // at once: every controller's status names the new supervisor
	d.sv.wantUp, d.sv.gen, d.sv.kill = d.wantRec.Up, d.wantRec.Gen, d.wantRec.Kill
	if !d.sv.wantUp && d.m.state != Stopped {
		// Wanted down but not stopped: a stop that the supervisor before
		// did not live to finish (or carry out). This one finishes it,
		// its StopTimeout counted from now.
		d.sv.stopQueued, d.sv.stopWhy = true, ReasonRequestedElsewhere
	}
	if d.notify != nil && d.spec.Ready == ReadyNotify {
		if d.notify.bind() == nil {
			d.watchNotify()
		}
	}
	d.own.touch(d, markDue)
	d.publish() // Status names the supervisor now, not after the next round (Add)
}

// observe applies the restart policy to one event of d's.
func (d *Daemon) observe(ev Event, now time.Time) {
	sv := d.sv
	if ev.To == Running && ev.From != Running {
		sv.upSince = ev.Time
	}
	if d.lease < 0 || ev.From == ev.To {
		return
	}
	if (ev.To == Stopped || ev.To == Zombie) && sv.unwatched && sv.wantUp {
		// It ended while no supervisor watched (found dead when this one
		// took over): no policy's business, start it again, as wanted.
		d.rec.NextRestart = time.Time{}
		return
	}
	if !sv.wantUp && ev.To == Stopped {
		d.rec.LastReason, d.rec.Since = ev.Reason, ev.Time
		d.recDirty = true
		return
	}
	rec, v := decide(d.rec, ev, policyOf(d.spec), sv.upSince, now, sv.jitter())
	d.rec = rec
	switch v {
	case restartAt:
		sv.why = ReasonBackoff
		sv.upSince = time.Time{}
	case giveUp:
		d.supervisorNote(now, ReasonGaveUp, nil)
	case stayDown:
		d.setWant(false, true)
	}
	if ev.To == Stopped || ev.To == Zombie {
		d.recDirty = true
	}
}

// settle starts what is wanted up and due, and stops what is wanted down
// once its dependents are down. It runs after each round of d's.
func (d *Daemon) settle(now time.Time) {
	sv := d.sv
	sv.unwatched = false
	before := d.m.state
	st := d.m.state
	switch {
	case sv.startQueued && st == Stopped && d.depsReady():
		sv.startQueued = false
		d.own.deliver()
		d.request(inStart, nil, ReasonNone, now)
	case d.lease >= 0 && sv.wantUp && st == Stopped && !d.rec.GaveUp && !now.Before(d.rec.NextRestart) && d.depsReady():
		if off, _ := d.f.isDisabled(); off {
			return
		}
		why := sv.why.or(ReasonRequested)
		sv.why = ReasonNone
		d.own.deliverBeforeSpawn() // the exit's events go out before the spawn
		d.startData = nil
		err := d.apply(input{kind: inStart, reason: why}, now)
		d.startDone(err, now)
		switch {
		case err == nil && why == ReasonBackoff:
			d.rec.Restarts++
			d.recDirty = true
		}
	case sv.stopQueued && d.dependentsDown():
		sv.stopQueued = false
		if d.lease < 0 && d.m.state != Stopped {
			d.stoppedHere = true // no supervisor will log and record its end: this one does
		}
		d.apply(input{kind: inStop, reason: sv.stopWhy}, now)
	}
	if d.m.state != before || d.m.state == Running || d.m.state == Stopped {
		// Its dependents may start now, or the daemons it runs after stop.
		for _, x := range sv.dependents {
			if x.m.state == Stopped && d.m.state == Running && (x.sv.startQueued || x.sv.wantUp && x.lease >= 0) {
				d.own.touch(x, markDue)
			}
		}
		for _, x := range sv.after {
			if x.sv.stopQueued && d.m.state == Stopped {
				d.own.touch(x, markDue)
			}
		}
	}
}

// startDone applies the policy to a start the supervisor made (or was
// asked for), before anything else can try it again in the same round,
// when it failed to spawn: restart never leaves it down (wanted
// down, not tried again until somebody asks: it looped here, at once, for
// ever); otherwise it backs off (never again in the same round: a spawn
// that fails fails at once) or gives up. Either way the shared record says
// why, so that a controller whose wish this was (a CLI's start --wait)
// learns it.
func (d *Daemon) startDone(err error, now time.Time) {
	if d.lease < 0 {
		return
	}
	if err == nil {
		if d.rec.LastError != "" {
			d.rec.LastError = ""
			d.recDirty = true
		}
		return
	}
	if errors.Is(err, ErrBusy) {
		// Another controller is spawning it right now: look again
		// shortly (its process shows, or the lock frees), no failure.
		d.rec.NextRestart = now.Add(busyWaitMin)
		return
	}
	d.rec.LastReason, d.rec.LastError, d.rec.Since = ReasonStartFailed, err.Error(), now
	d.recDirty = true
	if d.spec.Restart == RestartNever {
		d.setWant(false, true)
		return
	}
	rec, v := backoff(d.rec, policyOf(d.spec), time.Time{}, now, d.sv.jitter())
	if v == restartAt && rec.NextRestart.Before(now.Add(time.Millisecond)) {
		rec.NextRestart = now.Add(time.Millisecond)
	}
	d.rec = rec
	if v == giveUp {
		d.supervisorNote(now, ReasonGaveUp, nil)
	} else {
		d.sv.why = ReasonBackoff
	}
}

// changed acts on what another controller changed in d's files: a new
// wish in <name>.want (carry it out). A lease given up is lookAtLease's.
func (d *Daemon) changed(kinds fileKind, now time.Time) {
	if kinds&fileWant == 0 || d.lease < 0 {
		return
	}
	sv, w := d.sv, d.wantRec
	if w.Up == sv.wantUp && w.Gen == sv.gen && w.Kill == sv.kill {
		return // ours, or nothing new
	}
	restart := w.Up && w.Gen != sv.gen
	sv.wantUp, sv.gen, sv.kill = w.Up, w.Gen, w.Kill
	switch {
	case w.Kill:
		// A force-stop: its controller kills it; a SIGTERM from here
		// would race that SIGKILL. Kill it too, at once, whatever runs
		// after it.
		sv.stopQueued = false
		d.apply(input{kind: inForceStop, reason: ReasonRequestedElsewhere}, now)
	case !w.Up:
		sv.stopQueued, sv.stopWhy = true, ReasonRequestedElsewhere
	case restart && d.m.state != Stopped:
		d.rec = d.rec.reset()
		sv.stopQueued = false
		d.apply(input{kind: inRestart, reason: ReasonRequestedElsewhere}, now)
	default:
		d.rec = d.rec.reset() // a gave-up included: asked again
		d.recDirty = true
		sv.stopQueued, sv.why = false, ReasonRequestedElsewhere
	}
	d.genSeen = w.Gen
	d.own.touch(d, markDue)
}

// depsReady reports whether every daemon d runs after is running.
func (d *Daemon) depsReady() bool {
	if len(d.sv.missing) > 0 {
		return false
	}
	for _, dep := range d.sv.after {
		if dep.m.state != Running {
			return false
		}
	}
	return true
}

// dependentsDown reports whether every daemon that runs after d and is
// being stopped too has stopped.
func (d *Daemon) dependentsDown() bool {
	for _, x := range d.sv.dependents {
		if (x.sv.stopQueued || !x.sv.wantUp) && x.m.state != Stopped {
			return false
		}
	}
	return true
}

// startSupervised is Manager.Start for d: wanted up, gave-up state and
// backoff cleared, started now or once the daemons it runs after run.
func (d *Daemon) startSupervised(now time.Time) error {
	if off, err := d.f.isDisabled(); off {
		return errors.Join(ErrDisabled, err)
	}
	if len(d.sv.missing) > 0 {
		return detail(ErrBadSpec, "after: no daemon %q has been added", d.sv.missing[0])
	}
	d.sv.gaveUp = d.rec.GaveUp // a new wish, for a supervisor elsewhere too (request)
	defer func() { d.sv.gaveUp = false }()
	d.rec = d.rec.reset()
	d.sv.stopQueued = false
	if !d.depsReady() {
		d.sv.startQueued = true
		return d.setWant(true, d.lease >= 0)
	}
	return d.request(inStart, nil, ReasonNone, now)
}

// stopSupervised is Manager.Stop for d: wanted down, stopped once its
// dependents are (by the supervisor, where another Manager holds the lease).
func (d *Daemon) stopSupervised() error {
	if err := d.setWant(false, false); err != nil && d.lease < 0 {
		return err
	}
	d.sv.stopQueued, d.sv.stopWhy = true, ReasonRequested
	if d.lease < 0 && d.f.leaseHeld() {
		d.sv.stopQueued = false // the supervisor does it
	}
	return nil
}

// forceStopSupervised is Manager.ForceStop for d.
func (d *Daemon) forceStopSupervised(now time.Time) error {
	d.sv.stopQueued = false
	return d.request(inForceStop, nil, ReasonNone, now)
}

// restartSupervised is Manager.Restart for d: restarted now, or stopped
// now and started once the daemons it runs after run.
func (d *Daemon) restartSupervised(now time.Time) error {
	d.rec = d.rec.reset()
	d.sv.stopQueued = false
	if d.depsReady() || d.lease < 0 && d.f.leaseHeld() {
		return d.request(inRestart, nil, ReasonNone, now)
	}
	if err := d.request(inStop, nil, ReasonNone, now); err != nil {
		return err
	}
	d.sv.startQueued = true
	return d.setWant(true, d.lease >= 0)
}

// signalMain sends sig to d's main process (Manager.Signal).
func (d *Daemon) signalMain(sig syscall.Signal) error {
	if d.proc == nil || d.mainExited {
		return ErrNotRunning
	}
	return d.proc.signal(sig)
}

// setWant records in <name>.want what d is wanted to be (a restart, when
// bump, is a new generation) and makes it what d's supervision acts on.
func (d *Daemon) setWant(up, quiet bool) error {
	w := d.wantRec
	w.Up, w.Kill = up, false
	if d.sv != nil {
		d.sv.wantUp, d.sv.gen, d.sv.kill = up, w.Gen, false
	}
	if w == d.wantRec && d.wantKnown {
		return nil
	}
	if up {
		// A start that waits for the daemons it runs after: the first
		// wish in a fresh pid dir.
		if err := d.makeDirs(); err != nil {
			return err
		}
	}
	err := d.f.writeWant(w)
	if err == nil {
		d.wantRec, d.wantKnown = w, true
	} else if !up && errors.Is(err, os.ErrNotExist) {
		// No pid dir: nothing was ever started there, and a missing wish
		// is "down" already (a stop of a daemon never started).
		err = nil
	}
	if quiet {
		return nil
	}
	return err
}

// supervisorNote records a supervisor's decision that changes no state
// (gave-up) as an event of d's.
func (d *Daemon) supervisorNote(now time.Time, r Reason, err error) {
	d.emit(now, d.m.state, d.m.state, r, nil, err)
}
