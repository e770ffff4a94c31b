// proc.go holds what launcher knows of a process from /proc (the parsing
// is portable; the reading is proc_linux.go's).

package launcher

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// procStat is what launcher needs of /proc/<pid>/stat.
type procStat struct {
	state      byte   // R, S, D, Z, X, ...
	pgrp       int    // process group
	session    int    // session id: a daemon leads its own (session == pid)
	flags      uint64 // kernel flags (PF_*)
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
	// f[0] is field 3 (state), f[2] field 5 (pgrp), f[3] field 6
	// (session), f[6] field 9 (flags), f[11] and f[12]
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
	st.session, _ = strconv.Atoi(f[3])
	st.flags, _ = strconv.ParseUint(f[6], 10, 64)
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

// pfKthread is PF_KTHREAD: the process is a kernel thread, which no daemon
// is, whatever a pid file says.
const pfKthread = 0x00200000

// kernelThread reports whether st is a kernel thread's.
func (st procStat) kernelThread() bool { return st.flags&pfKthread != 0 }
