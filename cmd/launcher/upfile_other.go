//go:build !linux

// upfile_other.go: the .up record's process facts outside Linux.

package main

import (
	"errors"
	"time"
)

var errNotLinux = errors.New("not supported on this system (Linux only)")

func processStart(pid int) (uint64, error) { return 0, errNotLinux }
func bootID() string                       { return "" }
func pidNamespace() string                 { return "" }
func bootClock() int64                     { return time.Now().UnixNano() }
func monotonicClock() int64                { return time.Now().UnixNano() }
