// proc_linux.go reads /proc: a process's stat, the boot, the pid
// namespace, and who holds a daemon's lock.

package launcher

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// pidExists reports whether a process with pid runs (or is a zombie).
func pidExists(pid int) bool {
	var st unix.Stat_t
	return pid > 0 && unix.Stat("/proc/"+strconv.Itoa(pid), &st) == nil
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

// holdsLock reports whether process pid has, at fd n, the file with device
// dev and inode ino open: the proof that it is the daemon whose lock that
// is (nobody can make another process open our file). Reading another
// user's /proc/<pid>/fd needs the right to ptrace it; without it the answer
// is false.
func holdsLock(pid, n int, dev, ino uint64) bool {
	if pid <= 1 || n < 0 {
		return false
	}
	var st unix.Stat_t
	if unix.Stat("/proc/"+strconv.Itoa(pid)+"/fd/"+strconv.Itoa(n), &st) != nil {
		return false
	}
	return st.Dev == dev && st.Ino == ino
}

// lockHolders scans every process for one holding the lock (dev, ino) at
// fd n. It is the recovery path only (a controller died between the spawn
// and the records), never a steady one: it reads one entry per process.
func lockHolders(n int, dev, ino uint64) []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var pids []int
	self := os.Getpid()
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 1 || pid == self {
			continue
		}
		if holdsLock(pid, n, dev, ino) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// startWallTime converts a start time in ticks after boot to wall time. It
// goes through the age (CLOCK_BOOTTIME now, less the start), which is as
// precise as the ticks; btime is whole seconds.
func startWallTime(ticks uint64) time.Time {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return bootTime().Add(time.Duration(ticks) * (time.Second / clockTicks))
	}
	age := time.Duration(ts.Nano()) - time.Duration(ticks)*(time.Second/clockTicks)
	return time.Now().Add(-age)
}
