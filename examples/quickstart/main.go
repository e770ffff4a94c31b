// Command quickstart is the README's quick start, kept here so that it
// compiles: go run ./examples/quickstart
package main

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/proclauncher/launcher"
)

func main() {
	launcher.Main() // first thing: Func daemons and the re-exec shim run in here

	dir, err := os.MkdirTemp("", "quickstart-") // or leave PIDDir/LogDir empty for the defaults
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	d, err := launcher.New(launcher.Spec{
		Name:    "napper",
		Command: []string{"sleep", "30"},
		PIDDir:  dir,
		LogDir:  dir,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close() // releases the pidfd; does not stop the daemon

	if err := d.Start(nil); err != nil { // returns at once, state starting
		log.Fatal(err)
	}
	if err := waitFor(d, launcher.Running); err != nil { // alive for StartSecs (1s)
		d.ForceStop() // never leave it behind: kill it, and poll until it is gone
		waitFor(d, launcher.Stopped)
		log.Fatal(err)
	}
	fmt.Println("running as pid", d.PID())

	if err := d.Stop(); err != nil { // SIGTERM now, SIGKILL after StopTimeout
		log.Fatal(err)
	}
	if err := waitFor(d, launcher.Stopped); err != nil {
		log.Fatal(err)
	}
}

// waitFor polls d until it reaches want, printing each event. Poll never
// blocks: in a real program it goes in your own select loop.
func waitFor(d *launcher.Daemon, want launcher.State) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(15 * time.Second)
	for d.State() != want {
		if d.State() == launcher.Stopped || time.Now().After(deadline) {
			return fmt.Errorf("%s is %s, want %s", d.Name(), d.State(), want)
		}
		<-tick.C
		for _, ev := range d.Poll(time.Now()) {
			fmt.Println(ev)
		}
	}
	return nil
}
