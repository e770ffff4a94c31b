//go:build linux

// Command floorhelper is launcher-bench's floor for the CLI: the least a
// separate program does to stop a daemon, or to report on all of them.
//
//	floorhelper stop PID     SIGTERM through a pidfd, then wait until PID has exited
//	floorhelper status DIR   for each DIR/<name>.pid: read the pid, read
//	                         /proc/<pid>/stat (alive? since when?), print a line
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "stop":
		err = stop(os.Args[2])
	case len(os.Args) == 3 && os.Args[1] == "status":
		err = status(os.Args[2])
	default:
		err = errors.New("usage: floorhelper stop PID | status DIR")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floorhelper:", err)
		os.Exit(1)
	}
}

func stop(arg string) error {
	pid, err := strconv.Atoi(arg)
	if err != nil {
		return err
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return err
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0); err != nil {
		return err
	}
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(pfd, -1)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

func status(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".pid")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		pid, _ := strconv.Atoi(string(bytes.TrimSpace(b)))
		state, start := "stopped", "-"
		if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); pid > 0 && err == nil {
			// after the command name: state, ..., field 22 the start time
			if i := bytes.LastIndexByte(stat, ')'); i > 0 {
				if f := strings.Fields(string(stat[i+1:])); len(f) > 19 && f[0] != "Z" {
					state, start = "running", f[19]
				}
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\n", name, state, pid, start)
	}
	return w.Flush()
}
