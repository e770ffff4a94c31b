// reloadcmd.go: `launcher reload`: check the config, find the ups that run
// it, signal them and report what each did.

package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// reload is `launcher reload`: it checks the config, finds the ups that
// run it (their records in the pid dir), sends each SIGHUP and waits until
// each says what it applied.
//
// Why records and not only the leases: a lease names the up that
// supervises a daemon, but a standby up holds none, nor does an up whose
// daemons are all new in the config or all gone from it; and a lease holder
// may be any program built on the library, which SIGHUP could kill. The
// record is written by up alone, names its process beyond doubt (pid and
// start time, checked again through a pidfd before the signal), and is
// where up answers: a reload is done when the record says the config was
// read after the signal was sent.
func (c *cli) reload(args []string) error {
	if len(args) > 0 {
		return &usageError{cmd: c.cmd, msg: "takes no daemon names: it applies the whole config"}
	}
	if c.opts.timeout <= 0 {
		return &usageError{cmd: c.cmd, msg: "--timeout must be positive"}
	}
	cfg, err := c.config()
	if err != nil {
		return errors.Join(err, errors.New("reload: nothing was reloaded"))
	}
	dir := cfg.pidDirPath()
	recs, problems := upRecords(dir)
	var targets []upRecord
	var others []string
	for _, rec := range recs {
		switch {
		case !rec.alive():
			// Gone, or of another boot or pid namespace.
		case !sameConfig(rec, cfg):
			what := rec.Config
			if what == "" {
				what = "the built-in demo"
			}
			others = append(others, fmt.Sprintf("up pid %d runs %s", rec.PID, what))
		default:
			targets = append(targets, rec)
		}
	}
	if len(targets) == 0 {
		msg := fmt.Sprintf("reload: no launcher up runs %s (none in %s)", cfg.file, dir)
		if len(others) > 0 {
			msg += "; " + strings.Join(others, "; ")
		}
		return errors.Join(append(problems, errors.New(msg))...)
	}
	answers := signalUps(dir, targets, c.opts.timeout)
	var errs []error
	for i, a := range answers {
		prefix := ""
		if len(targets) > 1 {
			prefix = "up pid " + strconv.Itoa(targets[i].PID) + ": "
		}
		switch {
		case a.err != nil:
			errs = append(errs, fmt.Errorf("reload: up pid %d: %w", targets[i].PID, a.err))
			continue
		case a.rec.Error != "":
			errs = append(errs, fmt.Errorf("reload: up pid %d changed nothing:\n%s", targets[i].PID, a.rec.Error))
			continue
		}
		if len(a.rec.Lines) == 0 {
			fmt.Fprintln(c.stdout, prefix+"no changes")
		}
		for _, l := range a.rec.Lines {
			fmt.Fprintln(c.stdout, prefix+l)
		}
		if c.opts.verbose {
			for _, n := range a.rec.Unchanged {
				fmt.Fprintln(c.stdout, prefix+n+": unchanged")
			}
		}
	}
	return errors.Join(errs...)
}

// upAnswer is what one up did with a reload: its record, or why there is
// none.
type upAnswer struct {
	rec upRecord
	err error
}
