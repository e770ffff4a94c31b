// signalcmd.go: `launcher signal SIG name ...`.

package main

import (
	"errors"
	"time"
)

// signal sends a signal to the main process of each named daemon
// (Daemon.Signal); each one it could not signal (not running, say) is an
// error that names it, and the others are signalled all the same.
func (c *cli) signal(args []string) error {
	if len(args) < 2 {
		return &usageError{cmd: c.cmd, msg: "name a signal and at least one daemon"}
	}
	sig, err := parseSignal(args[0])
	if err != nil {
		return &usageError{cmd: c.cmd, msg: err.Error()}
	}
	names := args[1:]
	if err := c.checkNames(names); err != nil {
		return err
	}
	m, bad := c.manager(false, names)
	defer m.Close()
	m.Poll(time.Now()) // an exit nobody saw yet: not running
	var errs []error
	for _, n := range names {
		if err := bad[n]; err != nil {
			errs = append(errs, err)
			continue
		}
		if err := daemonOf(m, n).Signal(sig); err != nil {
			errs = append(errs, err) // "launcher: signal web: daemon is not running"
		}
	}
	return errors.Join(errs...)
}
