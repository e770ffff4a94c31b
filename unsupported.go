//go:build unix && !linux

package launcher

import (
	"os"
	"syscall"
	"time"
)

// This file lets the package build on other unixes. Spawning, adoption and
// reaping need Linux's /proc and pidfds; elsewhere they fail clearly with
// ErrUnsupported, and nothing is ever signalled.

type procStat struct {
	state      byte
	pgrp       int
	startTicks uint64
	cpuTicks   uint64
	rssPages   int64
}

const clockTicks = 100

type spawnRequest struct {
	path  string
	argv  []string
	env   []string
	dir   string
	umask os.FileMode
	cred  *syscall.Credential
	stdin int
	log   int
	lock  int

	notify, notifyNum int
}

type notifier struct{ fd int }

func openNotifier(ReadyMode, string) (*notifier, error) { return nil, ErrUnsupported }
func (n *notifier) read(int) notifyMsg                  { return notifyMsg{} }
func (n *notifier) env() []string                       { return nil }
func (n *notifier) prepare() (int, error)               { return -1, ErrUnsupported }
func (n *notifier) spawned()                            {}
func (n *notifier) close()                              {}

type notifyMsg struct {
	ready, watchdog, stopping bool
	status                    string
	hasStatus                 bool
}

type shimRequest struct{}

func spawn(spawnRequest) (*process, error)           { return nil, ErrUnsupported }
func openStdin([]byte) (int, error)                  { return -1, ErrUnsupported }
func openLog(string) (int, error)                    { return -1, ErrUnsupported }
func readProcStat(int) (procStat, error)             { return procStat{}, ErrUnsupported }
func groupAlive(int) bool                            { return true }
func bootID() string                                 { return "" }
func pidNS() uint64                                  { return 0 }
func startWallTime(uint64) time.Time                 { return time.Time{} }
func resetSignals()                                  {}
func runShim(string)                                 { os.Exit(127) }
func (p *process) check() (bool, *ExitStatus, error) { return false, nil, ErrUnsupported }
func (p *process) alive() bool                       { return false }
func (p *process) signal(syscall.Signal) error       { return ErrUnsupported }
func (p *process) close()                            {}

func openProcess(int, func(procStat) bool) (*process, error) { return nil, os.ErrNotExist }

type waker struct{}

func newWaker(chan struct{}) (*waker, error) { return nil, ErrUnsupported }
func (w *waker) signal()                     {}
func (w *waker) watch(int) error             { return ErrUnsupported }
func (w *waker) arm(time.Time)               {}
func (w *waker) close()                      {}

func (d *Daemon) rotateLog(time.Time) {}

func bootTime() time.Time { return time.Time{} }
