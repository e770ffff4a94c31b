//go:build unix && !linux

// unsupported.go lets the package build on other unixes. Spawning,
// adoption, reaping and watching need Linux's /proc, pidfds, epoll and
// inotify; elsewhere they fail clearly with ErrUnsupported, and nothing is
// ever signalled.

package launcher

import (
	"os"
	"syscall"
	"time"
)

type hub struct{ recheckAt time.Time }

func newHub(chan struct{}) (*hub, error)                  { return nil, ErrUnsupported }
func (h *hub) add(int, int, int) error                    { return ErrUnsupported }
func (h *hub) del(int)                                    {}
func (h *hub) collect(func(int, int, uint32))             {}
func (h *hub) watchDir(string, string, *Daemon) error     { return ErrUnsupported }
func (h *hub) unwatchDir(string, string)                  {}
func (h *hub) watchFile(string, *Daemon, fileKind) int32  { return -1 }
func (h *hub) unwatchFile(int32)                          {}
func (h *hub) readChanges(func(*Daemon, fileKind))        {}
func (h *hub) recheck(time.Time, func(*Daemon, fileKind)) {}
func (h *hub) drainTimer()                                {}
func (h *hub) arm(time.Time)                              {}
func (h *hub) start() error                               { return ErrUnsupported }
func (h *hub) rearm()                                     {}
func (h *hub) signal()                                    {}
func (h *hub) close()                                     {}
func (h *hub) setExitPIDs([]int)                          {}
func (h *hub) readExits(func(int, *ExitStatus))           {}
func (p *process) exitInfo() *ExitStatus                  { return nil }
func (n *notifier) bind() error                           { return ErrUnsupported }
func (n *notifier) read(int) notifyMsg                    { return notifyMsg{} }
func spawn(spawnRequest) (*process, error)                { return nil, ErrUnsupported }
func openStdin([]byte) (int, error)                       { return -1, ErrUnsupported }
func readProcStat(int) (procStat, error)                  { return procStat{}, ErrUnsupported }
func holdsLock(int, int, uint64, uint64) bool             { return false }
func lockHolders(int, uint64, uint64) []int               { return nil }
func bootID() string                                      { return "" }
func pidNS() uint64                                       { return 0 }
func startWallTime(uint64) time.Time                      { return time.Time{} }
func bootTime() time.Time                                 { return time.Time{} }
func pidfdOK() bool                                       { return false }
func runShim(string)                                      { os.Exit(127) }
func (p *process) check() (bool, *ExitStatus, error)      { return false, nil, ErrUnsupported }
func (p *process) alive() bool                            { return false }
func pidExists(int) bool                                  { return false }
func (p *process) signal(syscall.Signal) error            { return ErrUnsupported }
func (p *process) close()                                 {}
func openProcess(int) (*process, procStat, error)         { return nil, procStat{}, os.ErrNotExist }
func (d *Daemon) checkLog(time.Time)                      {}
func (d *Daemon) watchLog(time.Time)                      {}
func (d *Daemon) unwatchLog()                             {}

type containment struct{}

type siginfo struct{}

func (d *Daemon) containNew() error {
	if d.spec.KillMode == KillCgroup {
		return ErrUnsupported
	}
	return nil
}
func (d *Daemon) containSpawn() (int, error)                 { return -1, nil }
func (d *Daemon) containWatch()                              {}
func (d *Daemon) containUnwatch()                            {}
func (d *Daemon) containSignal(syscall.Signal) (bool, error) { return false, nil }
func (d *Daemon) containBusy() bool                          { return false }
func (d *Daemon) containGone()                               {}
func (d *Daemon) containHolds(int) bool                      { return false }
func (d *Daemon) containPIDs() []int                         { return nil }

type treeSource = struct{}

func (d *Daemon) treeSource() treeSource { return treeSource{} }
func treeUsage(_ treeSource, st *Status) { st.TreeCPU, st.TreeMemory, st.TreeProcs = -1, -1, -1 }

// ReapOrphans reaps nothing here.
func ReapOrphans() []int { return nil }

// replaceFile renames tmp over path: other systems have no exchange.
func replaceFile(tmp, path string) error { return os.Rename(tmp, path) }
