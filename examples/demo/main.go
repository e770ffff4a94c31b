// Command demo starts two daemons, watches them come up, shows their pids
// and logs, and stops them again. "ticker" is a Func daemon (a function of
// this program, run in a re-exec of it); "greeter" is a Command daemon.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/proclauncher/launcher"
)

// Register in init, so that the function is known before Main runs: in the
// re-exec'd daemon, Main looks it up and runs it instead of returning.
func init() {
	launcher.Register("ticker", func(ctx context.Context, data []byte) error {
		// stdout is the daemon's log file; ctx is cancelled by the stop signal.
		fmt.Printf("ticker up, data %q\n", data)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				fmt.Println("ticker: asked to stop")
				return nil
			case <-t.C:
				fmt.Println("tick", n)
			}
		}
	})
}

func main() {
	// First thing: in a daemon process this runs the registered function
	// and exits; in the controller (here) it returns at once.
	launcher.Main()

	// Ctrl-C cancels ctx, and run then stops the daemons before returning:
	// they live in their own session, so the terminal's SIGINT misses them.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) (err error) {
	// A fresh dir for pid files and logs, so the demo touches nothing else.
	dir, err := os.MkdirTemp("", "launcher-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	common := launcher.Spec{
		PIDDir:    filepath.Join(dir, "run"),
		LogDir:    filepath.Join(dir, "log"),
		StartSecs: 300 * time.Millisecond, // up this long = running
	}
	ticker, greeter := common, common
	ticker.Name, ticker.Func = "ticker", "ticker"
	greeter.Name, greeter.Command = "greeter", []string{"sh", "-c", "echo hello from $$; exec sleep 60"}

	var daemons []*launcher.Daemon
	// Whatever happens below (an error, Ctrl-C), kill what is still up and
	// poll until it is gone: daemons outlive their controller otherwise.
	defer func() {
		for _, d := range daemons {
			d.ForceStop() // nothing to do for a daemon that is already stopped
		}
		if werr := waitAll(context.Background(), launcher.Stopped, daemons); werr != nil {
			err = errors.Join(err, werr)
		}
		for _, d := range daemons {
			if d.State() != launcher.Stopped {
				fmt.Fprintf(os.Stderr, "demo: %s left %s, pid %d\n", d.Name(), d.State(), d.PID())
			}
			d.Close() // releases the pidfd; it does not stop anything
		}
	}()

	for _, spec := range []launcher.Spec{ticker, greeter} {
		d, err := launcher.New(spec)
		if err != nil {
			return err
		}
		daemons = append(daemons, d)
		d.ReadLog() // the first call only marks the end of the log: see the next call
		if err := d.Start([]byte("hi")); err != nil {
			return err
		}
	}
	fmt.Println("== starting")
	if err := waitAll(ctx, launcher.Running, daemons); err != nil {
		return err
	}

	fmt.Println("== running")
	for _, d := range daemons {
		fmt.Printf("%s: pid %d\n", d.Name(), d.PID())
	}
	if err := printLogs(daemons); err != nil {
		return err
	}

	fmt.Println("== stopping")
	for _, d := range daemons {
		if err := d.Stop(); err != nil { // StopSignal (SIGTERM) now, SIGKILL after StopTimeout
			return err
		}
	}
	if err := waitAll(ctx, launcher.Stopped, daemons); err != nil {
		return err
	}
	fmt.Println("== all stopped")
	return printLogs(daemons) // what they wrote while stopping, and launcher's exit marker
}

// printLogs prints what each daemon's log gained since the last ReadLog.
func printLogs(daemons []*launcher.Daemon) error {
	for _, d := range daemons {
		log, err := d.ReadLog()
		if err != nil {
			return err
		}
		fmt.Printf("%s log:\n%s", d.Name(), log)
	}
	return nil
}

// waitAll polls the daemons every 20ms, printing each event as it comes,
// until all of them are in state want. Poll never blocks, so the same loop
// could serve sockets or timers of a bigger program in its select.
func waitAll(ctx context.Context, want launcher.State, daemons []*launcher.Daemon) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(5 * time.Second)
	for {
		all := true
		for _, d := range daemons {
			for _, ev := range d.Poll(time.Now()) {
				fmt.Println("  event:", ev)
			}
			st := d.State()
			if want == launcher.Running && st == launcher.Stopped {
				return fmt.Errorf("%s stopped while starting", d.Name())
			}
			all = all && st == want
		}
		if all {
			return nil
		}
		select {
		case <-tick.C:
		case <-timeout:
			return fmt.Errorf("timed out waiting for %s", want)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
