// watchdir_linux.go is how an owner watches its pid dirs (part of the
// hub): one inotify watch per dir, shared by its daemons, and for a pid
// dir that does not exist (not yet, or no more) a watch on its parent
// until it does, so that what another controller does there is seen from
// the moment it makes the dir.

package launcher

import (
	"errors"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dirWatch is one watched dir: a pid dir with the owner's daemons in it,
// or the parent of missing pid dirs (children), or both.
type dirWatch struct {
	dir      string
	wd       int32
	names    map[string]*Daemon
	children map[string]*pendingDir // by base name: missing pid dirs in it
}

// pendingDir is a pid dir that does not exist, and the daemons in it; its
// parent's watch says when it is made (parent nil: the parent is missing
// too, and nothing will say so).
type pendingDir struct {
	dir    string
	names  map[string]*Daemon
	parent *dirWatch
}

// inotifyMask is what a pid dir watch reports: records renamed into place,
// files made, removed and renamed away (.disabled, FIFOs, sockets), and
// closes of files opened for writing, which is how the release of a lock
// or a lease shows (the close of its last fd, when its holder exits). The
// same mask serves a parent's watch (a dir made or renamed into place),
// so that a parent that is a pid dir too keeps one watch of one mask.
const inotifyMask = unix.IN_MOVED_TO | unix.IN_MOVED_FROM | unix.IN_CREATE | unix.IN_DELETE |
	unix.IN_CLOSE_WRITE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// watch returns the watch of dir, adding it if needed.
func (h *hub) watch(dir string) (*dirWatch, error) {
	if w := h.dirs[dir]; w != nil {
		return w, nil
	}
	wd, err := unix.InotifyAddWatch(h.ifd, dir, inotifyMask)
	if err != nil {
		return nil, err
	}
	w := h.wds[int32(wd)]
	if w == nil { // else the same dir by another path
		w = &dirWatch{dir: dir, wd: int32(wd), names: map[string]*Daemon{}, children: map[string]*pendingDir{}}
		h.wds[w.wd] = w
	}
	h.dirs[dir] = w
	return w, nil
}

// drop removes w's watch once nothing needs it.
func (h *hub) drop(w *dirWatch) {
	if len(w.names) > 0 || len(w.children) > 0 {
		return
	}
	unix.InotifyRmWatch(h.ifd, uint32(w.wd))
	h.forget(w)
}

// forget takes w out of the maps (its watch is gone, or going).
func (h *hub) forget(w *dirWatch) {
	delete(h.wds, w.wd)
	for p, o := range h.dirs {
		if o == w {
			delete(h.dirs, p)
		}
	}
}

// watchDir watches dir for d, filed under name. A dir that does not exist
// is watched through its parent until it does (then the daemon is told to
// look at all its files); d's flagDirWatched says which.
func (h *hub) watchDir(dir, name string, d *Daemon) error {
	w, err := h.watch(dir)
	if err != nil {
		h.pend(dir, name, d)
		return err
	}
	h.unpend(dir, name)
	w.names[name] = d
	d.setFlag(flagDirWatched, true)
	return nil
}

// unwatchDir forgets d's name in dir; the watch goes with the last name.
func (h *hub) unwatchDir(dir, name string) {
	h.unpend(dir, name)
	if w := h.dirs[dir]; w != nil {
		delete(w.names, name)
		h.drop(w)
	}
}

// pend files d under its missing pid dir, and watches the dir's parent.
func (h *hub) pend(dir, name string, d *Daemon) {
	d.setFlag(flagDirWatched, false)
	if h.pending == nil {
		h.pending = map[string]*pendingDir{}
	}
	p := h.pending[dir]
	if p == nil {
		p = &pendingDir{dir: dir, names: map[string]*Daemon{}}
		h.pending[dir] = p
	}
	p.names[name] = d
	if p.parent == nil {
		if w, err := h.watch(filepath.Dir(dir)); err == nil {
			p.parent = w
			w.children[filepath.Base(dir)] = p
		}
	}
}

// unpend takes name out of the pending dir, if it is there.
func (h *hub) unpend(dir, name string) {
	p := h.pending[dir]
	if p == nil {
		return
	}
	delete(p.names, name)
	if len(p.names) > 0 {
		return
	}
	delete(h.pending, dir)
	if w := p.parent; w != nil {
		delete(w.children, filepath.Base(dir))
		h.drop(w)
	}
}

// made watches the pending dir p, which was made (or may have been): each
// daemon watched now looks at all its files, which may have come before
// the watch.
func (h *hub) made(p *pendingDir, fn func(d *Daemon, kinds fileKind)) {
	for name, d := range p.names { // watchDir takes it out of p.names: allowed while ranging
		if h.watchDir(p.dir, name, d) == nil {
			fn(d, allFiles)
		}
	}
}

// lost acts on a pid dir whose watch is gone (the dir removed, or renamed
// away): its daemons look at everything again and wait for a dir of that
// path through its parent, and the dirs that waited in it, which cannot
// be made now, wait unseen.
func (h *hub) lost(w *dirWatch, fn func(d *Daemon, kinds fileKind)) {
	h.forget(w)
	for name, d := range w.names {
		d.dirLost()
		h.pend(d.f.dir, name, d)
		fn(d, allFiles)
	}
	for _, p := range w.children {
		p.parent = nil
	}
}

// allFiles is every kind: a daemon must look at all its files again.
const allFiles = ^fileKind(0)

// readChanges reads every waiting inotify event without blocking: fn gets
// the daemon and which of its files changed. A lost queue (overflow) gives
// every daemon (d nil) every kind, and a look at every pending dir; a dir
// that went away gives each of its daemons every kind.
func (h *hub) readChanges(fn func(d *Daemon, kinds fileKind)) {
	defer h.add(h.ifd, evInotify, -1)
	for {
		n, err := unix.Read(h.ifd, h.ibuf[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if n <= 0 {
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&h.ibuf[off]))
			nameEnd := off + unix.SizeofInotifyEvent + int(ev.Len)
			name := cString(h.ibuf[off+unix.SizeofInotifyEvent : min(nameEnd, n)])
			off = nameEnd
			w := h.wds[ev.Wd]
			switch {
			case ev.Mask&unix.IN_Q_OVERFLOW != 0:
				fn(nil, allFiles)
				for _, p := range h.pending {
					h.made(p, fn)
				}
			case w != nil && ev.Mask&(unix.IN_IGNORED|unix.IN_MOVE_SELF) != 0:
				// Gone, or at another path now: what is at its path is
				// watched when it is made there.
				if ev.Mask&unix.IN_MOVE_SELF != 0 {
					unix.InotifyRmWatch(h.ifd, uint32(w.wd))
				}
				h.lost(w, fn)
			case w != nil && ev.Mask&unix.IN_DELETE_SELF != 0:
				for _, d := range w.names {
					fn(d, allFiles) // IN_IGNORED follows
				}
			case h.fileWds[ev.Wd].d != nil:
				if ev.Mask&unix.IN_IGNORED == 0 {
					fn(h.fileWds[ev.Wd].d, h.fileWds[ev.Wd].kind)
				}
			case w == nil || name == "":
				// A dir no longer watched.
			case w.children[name] != nil && ev.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
				h.made(w.children[name], fn)
			case name[0] == '.':
				// A temp file.
			default:
				base, kind := splitFileName(name)
				if d := w.names[base]; d != nil && kind != 0 {
					fn(d, kind)
				}
			}
		}
	}
}
