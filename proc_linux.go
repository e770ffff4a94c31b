package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// procStat is what launcher needs of /proc/<pid>/stat.
type procStat struct {
	state      byte   // R, S, D, Z, X, ...
	pgrp       int    // process group
	startTicks uint64 // start time after boot, in clock ticks
	cpuTicks   uint64 // user + system time, in clock ticks
	rssPages   int64  // resident set size, in pages
}

// clockTicks is USER_HZ, which the Linux ABI fixes at 100 on every
// architecture Go supports.
const clockTicks = 100

// parseProcStat parses the content of /proc/<pid>/stat. The command name
// (field 2) may hold spaces and parentheses, so fields are counted from the
// last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), f[2] field 5 (pgrp), f[11] and f[12]
	// fields 14 and 15 (utime, stime), f[19] field 22 (starttime), f[21]
	// field 24 (rss).
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, errors.New("malformed /proc stat")
	}
	pgrp, err1 := strconv.Atoi(f[2])
	start, err2 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil {
		return procStat{}, errors.New("malformed /proc stat")
	}
	st := procStat{state: f[0][0], pgrp: pgrp, startTicks: start}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 == nil && err2 == nil {
		st.cpuTicks = utime + stime
	}
	if len(f) > 21 {
		st.rssPages, _ = strconv.ParseInt(f[21], 10, 64)
	}
	return st, nil
}

// readProcStat reads /proc/<pid>/stat; os.ErrNotExist when there is no
// such process.
func readProcStat(pid int) (procStat, error) {
	if pid <= 0 {
		return procStat{}, os.ErrNotExist
	}
	var buf [1024]byte
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			return procStat{}, os.ErrNotExist
		}
		return procStat{}, err
	}
	n, err := unix.Read(fd, buf[:])
	unix.Close(fd)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return procStat{}, os.ErrNotExist
		}
		return procStat{}, err
	}
	return parseProcStat(buf[:n])
}

// bootID identifies this boot, so an identity record from before a reboot
// never matches.
var bootID = sync.OnceValue(func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(b))
})

// pidNS identifies the pid namespace: a pid means nothing in another one.
var pidNS = sync.OnceValue(func() uint64 {
	var st unix.Stat_t
	if unix.Stat("/proc/self/ns/pid", &st) != nil {
		return 0
	}
	return st.Ino
})

// bootTime is the wall-clock time of boot (btime in /proc/stat).
var bootTime = sync.OnceValue(func() time.Time {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err == nil {
				return time.Unix(n, 0)
			}
		}
	}
	return time.Time{}
})

// startWallTime converts a start time in ticks after boot to wall time.
func startWallTime(ticks uint64) time.Time {
	return bootTime().Add(time.Duration(ticks) * (time.Second / clockTicks))
}

// groupAlive reports whether any live (not yet exited) process is in the
// process group pgid. kill(-pgid, 0) alone also counts exited processes
// that nobody has reaped yet, so when it finds the group, /proc decides.
func groupAlive(pgid int) bool {
	if pgid <= 1 {
		return false
	}
	err := unix.Kill(-pgid, 0)
	if errors.Is(err, unix.ESRCH) {
		return false
	}
	d, err := os.Open("/proc")
	if err != nil {
		return true // cannot tell: assume alive, never report gone wrongly
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		st, err := readProcStat(pid)
		if err == nil && st.pgrp == pgid && st.state != 'Z' && st.state != 'X' {
			return true
		}
	}
	return false
}

// describeProc is for error messages.
func describeProc(pid int) string { return fmt.Sprintf("pid %d", pid) }
