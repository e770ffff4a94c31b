package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/proclauncher/launcher"
)

// up supervises in the foreground: it adopts what runs, starts the named
// (or all enabled) daemons, restarts them per their policy and prints
// every event, until SIGINT or SIGTERM; then it stops every daemon it
// supervises (in reverse order) unless --keep, and a second signal kills
// what is left. Where another `up` supervises a daemon already, this one
// stands by for it and takes over when that one goes; it says which.
func (c *cli) up(names []string) error {
	// Catch the signals first: a signal before Notify would be lost (a
	// shell's background job starts with SIGINT ignored) or kill us with
	// the daemons left unstopped.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := c.checkNames(names); err != nil {
		return err
	}
	m, bad := c.manager(true, names)
	defer m.Close()
	for _, s := range c.cfg.daemons {
		if err := bad[s.Name]; err != nil {
			fmt.Fprintln(c.stderr, err) // the others are supervised all the same
		}
	}
	print := func(ev launcher.Event) {
		fmt.Fprintf(c.stdout, "%s %s\n", ev.Time.Format("15:04:05.000"), colourEvent(c, ev))
	}
	var roles string
	sayRoles := func() {
		sup := m.Supervising()
		var standby []string
		for _, d := range m.Daemons() {
			if !slices.Contains(sup, d.Name()) {
				standby = append(standby, d.Name())
			}
		}
		now := "supervising: " + strings.Join(sup, " ")
		if len(standby) > 0 {
			now += "; standing by (another up supervises): " + strings.Join(standby, " ")
		}
		if now != roles {
			fmt.Fprintln(c.stderr, "launcher: "+now)
			roles = now
		}
	}
	sayRoles()
	if len(names) == 0 {
		for _, d := range m.Daemons() {
			if d.IsEnabled() {
				names = append(names, d.Name())
			}
		}
	}
	if err := m.Start(names...); err != nil {
		fmt.Fprintln(c.stderr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			select {
			case <-sigs:
				cancel()
				return
			case <-hup:
				fmt.Fprintln(c.stderr, "launcher: SIGHUP: reloading the config is not supported yet; ignored")
			case <-ctx.Done():
				return
			}
		}
	}()
	drive(ctx, m, func() bool { sayRoles(); return false }, print)
	cancel()
	if c.opts.keep {
		fmt.Fprintln(c.stderr, "launcher: leaving the daemons running")
		return nil
	}
	mine := m.Supervising()
	fmt.Fprintln(c.stderr, "launcher: stopping the daemons it supervises (again to kill them)")
	if len(mine) > 0 {
		m.Stop(mine...)
	}
	allStopped := func() bool {
		for _, n := range mine {
			if daemonOf(m, n).State() != launcher.Stopped {
				return false
			}
		}
		return true
	}
	stopCtx, stopCancel := context.WithCancel(context.Background())
	defer stopCancel()
	go func() {
		select {
		case <-sigs:
			if len(mine) > 0 {
				m.ForceStop(mine...)
			}
			stopCancel()
		case <-stopCtx.Done():
		}
	}()
	if err := drive(stopCtx, m, allStopped, print); errors.Is(err, context.Canceled) {
		// Killed: poll until the kills are reaped, a short while at most.
		killCtx, killCancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer killCancel()
		drive(killCtx, m, allStopped, print)
	}
	return nil
}

// colourEvent is ev's line, red when something went wrong.
func colourEvent(c *cli, ev launcher.Event) string {
	s := ev.String()
	switch ev.Reason {
	case launcher.ReasonCrashed, launcher.ReasonStartFailed, launcher.ReasonGaveUp, launcher.ReasonStopTimeout:
		return c.paint.paint(red, s)
	}
	return s
}
