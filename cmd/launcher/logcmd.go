package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/proclauncher/launcher"
)

// log prints the last -n lines of a daemon's log, and with -f follows it
// until interrupted.
func (c *cli) log(names []string) error {
	if len(names) != 1 {
		return &usageError{cmd: c.cmd, msg: "name one daemon"}
	}
	if err := c.checkNames(names); err != nil {
		return err
	}
	d, err := launcher.New(c.cfg.spec(names[0]))
	if err != nil {
		return err
	}
	defer d.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := d.Follow(ctx, launcher.LastLines(c.opts.lines))
	if err != nil {
		return err
	}
	defer f.Close()
	// Without -f: what is there now. The Follower reads it all at once; a
	// moment with nothing more means the end was reached.
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	for {
		if !c.opts.follow {
			idle.Reset(100 * time.Millisecond)
		}
		select {
		case l, ok := <-f.Lines():
			if !ok {
				return nil
			}
			if l.Notice {
				fmt.Fprintln(c.stderr, l.Text)
				continue
			}
			fmt.Fprintln(c.stdout, l.Text)
		case <-idle.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}
