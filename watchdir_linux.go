// watchdir_linux.go is how an owner watches its pid dirs (part of the
// hub): one inotify watch per dir, shared by its daemons, and for a pid
// dir that does not exist (not yet, or no more) a watch on its nearest
// existing ancestor until it does, so that what another controller does
// there is seen from the moment it makes the dir.

package launcher

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dirWatch is one watched dir: a pid dir with the owner's daemons in it,
// or an ancestor of missing pid dirs (children), or both.
type dirWatch struct {
	dir      string
	wd       int32
	dev, ino uint64 // the dir watched: one at its path with another inode replaced it
	names    map[string]*Daemon
	children map[string][]*pendingDir // by the name of the next dir on their way
}

// pendingDir is a pid dir that does not exist, and the daemons in it. The
// watch of its nearest existing ancestor (parent) says when the next dir
// on its way (step) is made (parent nil: no ancestor could be watched).
type pendingDir struct {
	dir    string
	names  map[string]*Daemon
	parent *dirWatch
	step   string
}

// inotifyMask is what a pid dir watch reports: records renamed into place,
// files made, removed and renamed away (.disabled, FIFOs, sockets), and
// closes of files opened for writing, which is how the release of a lock
// or a lease shows (the close of its last fd, when its holder exits). The
// same mask serves an ancestor's watch (a dir made or renamed into place),
// so that an ancestor that is a pid dir too keeps one watch of one mask.
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
		w = &dirWatch{dir: dir, wd: int32(wd), names: map[string]*Daemon{}, children: map[string][]*pendingDir{}}
		var st unix.Stat_t
		if unix.Stat(dir, &st) == nil {
			w.dev, w.ino = uint64(st.Dev), st.Ino
		}
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
// is waited for through its nearest existing ancestor (then the daemon is
// told to look at all its files); d's flagDirWatched says which.
func (h *hub) watchDir(dir, name string, d *Daemon) error {
	w, err := h.watch(dir)
	if err != nil {
		if h.pend(dir, name, d) {
			return nil // made meanwhile, and watched now
		}
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
		if d := w.names[name]; d != nil {
			d.setFlag(flagDirWatched, false) // nothing keeps its marks up to date now
		}
		delete(w.names, name)
		h.drop(w)
	}
}

// pend files d under its missing pid dir and waits for the dir through an
// ancestor; then it looks again, and if the dir was made before the
// ancestor's watch could see it, watches it (true).
func (h *hub) pend(dir, name string, d *Daemon) bool {
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
		h.attach(p)
	}
	w, err := h.watch(dir)
	if err != nil {
		return false
	}
	h.unpend(dir, name)
	w.names[name] = d
	d.setFlag(flagDirWatched, true)
	return true
}

// attach waits for p's next step through the watch of its nearest
// existing ancestor.
func (h *hub) attach(p *pendingDir) {
	target := filepath.Clean(p.dir)
	for dir, again := target, 0; ; {
		parent := filepath.Dir(dir)
		if w, err := h.watch(parent); err == nil && !h.gone(w) {
			if dir != target && isDir(dir) && again < 4 {
				// The step was made between the look below it and this
				// watch: wait through it instead (a few times: a dir that
				// cannot be watched would send this round for ever).
				h.drop(w) // unless another needs it
				dir, again = target, again+1
				continue
			}
			p.parent, p.step = w, filepath.Base(dir)
			w.children[p.step] = append(w.children[p.step], p)
			return
		}
		if parent == dir {
			return // the root: nothing to watch
		}
		dir = parent
	}
}

// isDir reports whether path is a dir now.
func isDir(path string) bool {
	var st unix.Stat_t
	return unix.Stat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
}

// detach takes p out of its ancestor's watch, and drops that watch if
// nothing needs it any more (unless keep).
func (h *hub) detach(p *pendingDir, keep bool) {
	w := p.parent
	if w == nil {
		return
	}
	p.parent = nil
	w.children[p.step] = slices.DeleteFunc(w.children[p.step], func(x *pendingDir) bool { return x == p })
	if len(w.children[p.step]) == 0 {
		delete(w.children, p.step)
	}
	if !keep {
		h.drop(w)
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
	h.detach(p, false)
}

// stepMade acts on a dir made on the way to the pending dir p: p itself
// is watched if it is there (each of its daemons then looks at all its
// files, which may have come before the watch), or waits for its next
// step through the dir just made.
func (h *hub) stepMade(p *pendingDir, fn func(d *Daemon, kinds fileKind)) {
	old := p.parent
	// The old watch is kept while the daemons move (one of theirs may be
	// the same), and dropped after unless needed.
	h.detach(p, true)
	for name, d := range p.names { // watchDir takes it out of p.names: allowed while ranging
		if h.watchDir(p.dir, name, d) == nil {
			fn(d, allFiles)
		}
	}
	if old != nil && h.wds[old.wd] == old {
		h.drop(old) // unless it is still needed
	}
}

// lost acts on a pid dir whose watch is gone (the dir removed, or renamed
// away): its daemons look at everything again and wait for a dir of that
// path (or watch the one made there already), and the pid dirs that
// waited through it wait through an ancestor still there.
func (h *hub) lost(w *dirWatch, fn func(d *Daemon, kinds fileKind)) {
	h.forget(w)
	// Its ancestors may be gone with it, unsaid for the same reason (a
	// file held open below them): those are lost first, so that nothing
	// waits through them.
	var gone []*dirWatch
	for _, a := range h.wds {
		if strings.HasPrefix(filepath.Clean(w.dir), filepath.Clean(a.dir)+"/") && h.gone(a) {
			gone = append(gone, a)
		}
	}
	for _, a := range gone {
		if h.wds[a.wd] == a {
			unix.InotifyRmWatch(h.ifd, uint32(a.wd))
			h.lost(a, fn)
		}
	}
	children := w.children
	w.children = nil
	for _, ps := range children {
		for _, p := range ps {
			p.parent = nil
			h.stepMade(p, fn) // made again already, or waited for through an ancestor
		}
	}
	for name, d := range w.names {
		d.dirLost()
		h.pend(d.f.dir, name, d)
		fn(d, allFiles)
	}
}

// recheck looks whether the pid dirs in rechecks are still at their paths
// (losing those that are not), and while some are, looks again at
// recheckDelays: an rm -rf removes the dir only after its files, after the
// events that made this look.
func (h *hub) recheck(now time.Time, fn func(d *Daemon, kinds fileKind)) {
	h.rechecks = slices.DeleteFunc(h.rechecks, func(w *dirWatch) bool {
		if h.wds[w.wd] != w {
			return true // lost meanwhile, or no longer watched
		}
		if h.gone(w) {
			unix.InotifyRmWatch(h.ifd, uint32(w.wd))
			h.lost(w, fn)
			return true
		}
		return false
	})
	h.recheckAt = time.Time{}
	if len(h.rechecks) > 0 && h.recheckN < len(recheckDelays) {
		h.recheckAt = now.Add(recheckDelays[h.recheckN])
		h.recheckN++
	} else {
		h.rechecks = nil
	}
}

// recheckDelays are when a pid dir whose lock or lease was removed is
// looked at again, while it is still there.
var recheckDelays = [...]time.Duration{5 * time.Millisecond, 50 * time.Millisecond, 500 * time.Millisecond}

// gone reports whether the dir w watches is no longer at its path: removed
// while something held a file in it open (a daemon its lock, a supervisor
// its lease), which keeps the kernel from saying so (no IN_DELETE_SELF
// until the last close), or replaced.
func (h *hub) gone(w *dirWatch) bool {
	var st unix.Stat_t
	if err := unix.Stat(w.dir, &st); err != nil {
		return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)
	}
	return w.ino != 0 && (uint64(st.Dev) != w.dev || st.Ino != w.ino)
}

// allFiles is every kind: a daemon must look at all its files again.
const allFiles = ^fileKind(0)

// readChanges reads every waiting inotify event without blocking: fn gets
// the daemon and which of its files changed. A lost queue (overflow) gives
// every daemon (d nil) every kind, and a look at every pending dir; a dir
// that went away gives each of its daemons every kind.
func (h *hub) readChanges(fn func(d *Daemon, kinds fileKind)) {
	defer h.add(h.ifd, evInotify, -1)
	var deletions []*dirWatch // pid dirs where a lock or a lease was removed: are they still there?
	defer func() {
		if len(deletions) > 0 {
			for _, w := range deletions {
				if !slices.Contains(h.rechecks, w) {
					h.rechecks = append(h.rechecks, w)
				}
			}
			h.recheckN = 0
			h.recheck(time.Now(), fn)
		}
	}()
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
				// Lost events, maybe the removal of a dir: every daemon
				// looks again, and every dir watched or waited for.
				fn(nil, allFiles)
				for _, p := range h.pending {
					h.stepMade(p, fn)
				}
				for _, w := range h.wds {
					if len(w.names) > 0 && !slices.Contains(deletions, w) {
						deletions = append(deletions, w)
					}
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
			case len(w.children[name]) > 0 && ev.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
				for _, p := range slices.Clone(w.children[name]) {
					h.stepMade(p, fn)
				}
			case name[0] == '.':
				// A temp file.
			default:
				base, kind := splitFileName(name)
				if d := w.names[base]; d != nil && kind != 0 {
					fn(d, kind)
				}
				if ev.Mask&unix.IN_DELETE != 0 && (kind&(fileLock|fileSup) != 0 || ev.Mask&unix.IN_ISDIR != 0) &&
					!slices.Contains(deletions, w) {
					// A lock or a lease (any daemon's) is never removed
					// but with its dir, and a dir in it (another owner's
					// pid dir, say) may be its rm -rf under way.
					deletions = append(deletions, w)
				}
			}
		}
	}
}
