// readiness.go is the Daemon's side of its readiness channel (notify.go):
// reading what the daemon said, recording that it was ready, and keeping
// the channel in the owner's watch.

package launcher

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// readReadiness reads what the daemon said on its readiness channel.
func (d *Daemon) readReadiness(now time.Time) {
	if d.proc == nil || d.mainExited {
		return
	}
	n := d.notify
	if n.mode == ReadyFD {
		if d.m.state == Starting && n.readyWritten() {
			d.apply(input{kind: inReady}, now)
		}
		if d.m.state != Starting {
			d.unwatchNotify()
		}
		return
	}
	msg := n.read(d.proc.pid)
	d.watchNotify() // read to the end: arm it again
	if msg.hasStatus {
		d.statusText = msg.status
	}
	if msg.stopping {
		d.apply(input{kind: inQuitting}, now)
	}
	if msg.watchdog {
		d.apply(input{kind: inBeat}, now)
	}
	if msg.ready && d.m.state == Starting {
		d.apply(input{kind: inReady}, now)
	}
}

// recordReady writes the time the daemon was confirmed (it said it was
// ready, or it stayed up StartSecs) into its identity record, so that any
// controller that adopts it later knows, whatever its own StartSecs.
//
// Only the controller that started it or supervises it records: a
// controller that only looks confirms by its own StartSecs, which need not
// be the daemon's.
func (d *Daemon) recordReady(now time.Time) {
	if d.proc == nil || !d.proc.own && d.lease < 0 || d.readyInID == d.proc.ident() {
		return // not ours to record, or recorded by our own write already
	}
	id, err := readIdentityFile(d.f.idPath())
	if err != nil || id.PID != d.proc.pid || !id.Ready.IsZero() {
		return
	}
	id.Ready = now
	if d.f.writeID(id) == nil {
		d.readyInID = d.proc.ident()
	}
}

// takeNotify binds the sd_notify socket for a daemon adopted before it
// said it was ready, by a lone Daemon, when nobody else will: no
// supervisor holds the lease and the controller that started it is gone.
// Without this the adopter would wait for a READY=1 that nobody receives.
func (d *Daemon) takeNotify() {
	n := d.notify
	if n.mode != ReadyNotify || n.fd >= 0 || !d.lone || d.m.state != Starting || !d.writable() || d.f.leaseHeld() {
		return
	}
	if sp, err := d.f.readSpawner(); err == nil && sp.PID != os.Getpid() && unix.Kill(sp.PID, 0) == nil {
		return // its starter lives and has it bound
	}
	n.bind()
}

// watchNotify puts the readiness channel in the owner's watch: the
// socket's fd (when this controller bound it), or the readiness file.
func (d *Daemon) watchNotify() {
	n, h := d.notify, d.own.hub
	if n == nil || h == nil {
		return
	}
	switch {
	case n.mode == ReadyNotify && n.fd >= 0:
		h.add(n.fd, evNotify, d.slot)
	case n.mode == ReadyFD && n.wd < 0:
		n.wd = h.watchFile(n.readyPath, d, fileReady)
	}
}

func (d *Daemon) unwatchNotify() {
	n, h := d.notify, d.own.hub
	if n == nil || h == nil {
		return
	}
	if n.fd >= 0 {
		h.del(n.fd)
	}
	if n.wd >= 0 {
		h.unwatchFile(n.wd)
		n.wd = -1
	}
}
