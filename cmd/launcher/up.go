package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/proclauncher/launcher"
)

// up supervises in the foreground: it adopts what runs, starts the named
// (or all enabled) daemons, restarts them per their policy and prints
// every event, until SIGINT or SIGTERM; then it stops them all (in reverse
// order) unless --keep, and a second signal kills what is left.
func (c *cli) up(names []string) error {
	// Catch the signals first: a signal before Notify would be lost (a
	// shell's background job starts with SIGINT ignored) or kill us with
	// the daemons left unstopped.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	m, err := c.manager(true)
	if err != nil {
		return err
	}
	defer m.Close()
	print := func(ev launcher.Event) {
		fmt.Fprintf(c.stdout, "%s %s\n", ev.Time.Format("15:04:05.000"), colourEvent(c, ev))
	}
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
		select {
		case <-sigs:
			cancel()
		case <-ctx.Done():
		}
	}()
	drive(ctx, m, func() bool { return false }, print)
	cancel()
	if c.flags.keep {
		fmt.Fprintln(c.stderr, "launcher: leaving the daemons running")
		return nil
	}
	fmt.Fprintln(c.stderr, "launcher: stopping all daemons (again to kill them)")
	m.Stop()
	allStopped := func() bool {
		for _, st := range m.Status() {
			if st.State != launcher.Stopped {
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
			m.ForceStop()
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

func colourEvent(c *cli, ev launcher.Event) string {
	s := ev.String()
	switch ev.Reason {
	case launcher.ReasonCrashed, launcher.ReasonStartFailed, launcher.ReasonGaveUp, launcher.ReasonStopTimeout:
		return colour(c.stdout, "31", s)
	}
	return s
}
