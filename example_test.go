//go:build linux

package launcher_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/proclauncher/launcher"
)

// The examples keep their pid files and logs in a fresh temporary directory
// and stop whatever they start on every path: a daemon outlives the program
// that started it unless it is stopped.

// tempSpec returns a spec whose PIDDir and LogDir are in a new temporary
// directory, which the caller removes.
func tempSpec(name string) (launcher.Spec, string, error) {
	dir, err := os.MkdirTemp("", "launcher-example-")
	if err != nil {
		return launcher.Spec{}, "", err
	}
	return launcher.Spec{Name: name, PIDDir: filepath.Join(dir, "run"), LogDir: filepath.Join(dir, "log")}, dir, nil
}

// pollUntil polls d every 10ms until it is in state want, printing each
// event without its pid (which changes from run to run).
func pollUntil(d *launcher.Daemon, want launcher.State) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, ev := range d.Poll(time.Now()) {
			printEvent(ev)
		}
		if d.State() == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: still %s, want %s", d.Name(), d.State(), want)
		}
		<-tick.C
	}
}

func printEvent(ev launcher.Event) {
	s := fmt.Sprintf("%s → %s (%s", ev.From, ev.To, ev.Reason)
	if ev.Exit != nil {
		s += ", " + ev.Exit.String()
	}
	fmt.Println(s + ")")
}

// shutdown kills whatever d still runs, polls until it is gone and
// releases d. It is what every example defers, so that no path leaves a
// process behind.
func shutdown(d *launcher.Daemon) {
	if d.State() != launcher.Stopped {
		d.ForceStop()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); <-tick.C {
			d.Poll(time.Now())
			if d.State() == launcher.Stopped {
				break
			}
		}
	}
	d.Close()
}

func ExampleNew() {
	spec, dir, err := tempSpec("web")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	spec.Command = []string{"sleep", "60"}

	// New checks the spec and adopts a process of this name started
	// earlier (by this program or another). It starts nothing.
	d, err := launcher.New(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shutdown(d)

	s := d.Spec() // with defaults filled in
	fmt.Println(d.Name(), d.State())
	fmt.Println(filepath.Base(d.PIDFile()), filepath.Base(d.LogFile()))
	fmt.Println(s.StopSignal, s.StopTimeout, s.StartSecs)

	// A spec that names neither a command nor a function is refused.
	_, err = launcher.New(launcher.Spec{Name: "nothing", PIDDir: spec.PIDDir, LogDir: spec.LogDir})
	fmt.Println(err)
	// Output:
	// web stopped
	// web.pid web.log
	// terminated 10s 1s
	// launcher: new nothing: bad spec: neither Command nor Func is set
}

func ExampleDaemon_Start() {
	spec, dir, err := tempSpec("sleeper")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	spec.Command = []string{"sleep", "60"}
	spec.StartSecs = 100 * time.Millisecond // up this long counts as running

	d, err := launcher.New(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shutdown(d) // kills it if anything below goes wrong

	// Start spawns the process and returns at once, in state starting.
	if err := d.Start(nil); err != nil {
		fmt.Println(err)
		return
	}
	if err := pollUntil(d, launcher.Running); err != nil {
		fmt.Println(err)
		return
	}
	// Starting it again is a no-op: it is already running.
	fmt.Println(d.Start(nil), d.PID() > 0)

	// Stop sends SIGTERM and returns; Poll sees the exit.
	if err := d.Stop(); err != nil {
		fmt.Println(err)
		return
	}
	if err := pollUntil(d, launcher.Stopped); err != nil {
		fmt.Println(err)
		return
	}
	// Output:
	// stopped → starting (requested)
	// starting → running (ready)
	// <nil> true
	// running → stopping (requested)
	// stopping → zombie (requested, signal: terminated)
	// zombie → stopped (requested)
}

func ExampleDaemon_Poll() {
	spec, dir, err := tempSpec("crasher")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	spec.Command = []string{"sh", "-c", "exit 3"}
	spec.StartSecs = time.Minute // it fails long before it would count as running

	d, err := launcher.New(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shutdown(d)
	if err := d.Start(nil); err != nil {
		fmt.Println(err)
		return
	}

	// Poll never blocks, so it fits in a select loop beside the program's
	// other work. Each call returns the events made since the last one.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	for d.State() != launcher.Stopped {
		select {
		case now := <-tick.C:
			for _, ev := range d.Poll(now) {
				printEvent(ev)
			}
		case <-timeout:
			fmt.Println("timed out in state", d.State())
			return
		}
	}
	// Output:
	// stopped → starting (requested)
	// starting → zombie (start-failed, exit status 3)
	// zombie → stopped (start-failed)
}

func ExampleDaemon_ReadLog() {
	spec, dir, err := tempSpec("greeter")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	spec.Command = []string{"sh", "-c", "echo hello; echo world; exec sleep 60"}

	d, err := launcher.New(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shutdown(d)

	// The first ReadLog only marks where the log ends now; later calls
	// return what was appended since.
	d.ReadLog()
	if err := d.Start(nil); err != nil {
		fmt.Println(err)
		return
	}
	var log strings.Builder
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), "world\n"); {
		if time.Now().After(deadline) {
			fmt.Printf("timed out; log %q\n", log.String())
			return
		}
		b, err := d.ReadLog()
		if err != nil {
			fmt.Println(err)
			return
		}
		log.Write(b)
		time.Sleep(10 * time.Millisecond)
	}
	// The log holds the daemon's stdout and stderr, and launcher's own
	// timestamped lines ("... launcher: started pid 42"), left out here.
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		if !strings.Contains(line, " launcher: ") {
			fmt.Println(line)
		}
	}
	// Output:
	// hello
	// world
}

// The function a Func daemon runs is registered before Main in every run of
// the program (here, the test binary's init), since the daemon is a re-exec
// of it.
func init() {
	launcher.Register("example-worker", func(ctx context.Context, data []byte) error {
		fmt.Printf("worker got %q\n", data) // goes to the daemon's log
		<-ctx.Done()                        // cancelled by Stop
		fmt.Println("worker done")
		return nil
	})
}

// A Func daemon runs a function of this program in a re-exec of it. The
// program registers its functions before Main, and calls Main first thing
// in main: in the daemon, Main runs the function and exits with its result.
//
//	func init() { launcher.Register("example-worker", worker) }
//	func main() { launcher.Main(); ... }
func ExampleRegister() {
	spec, dir, err := tempSpec("worker")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	spec.Func, spec.StartSecs = "example-worker", -1
	d, err := launcher.New(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shutdown(d)
	if err := d.Start([]byte("some data")); err != nil {
		fmt.Println(err)
		return
	}
	if err := pollUntil(d, launcher.Running); err != nil {
		fmt.Println(err)
		return
	}
	// Once the function runs (its first line is in the log), Stop cancels
	// its context.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(d.LogFile()); strings.Contains(string(b), "worker got") {
			break
		}
		if time.Now().After(deadline) {
			fmt.Println("the worker did not start")
			return
		}
	}
	d.Stop()
	if err := pollUntil(d, launcher.Stopped); err != nil {
		fmt.Println(err)
		return
	}
	b, _ := os.ReadFile(d.LogFile())
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.Contains(line, " launcher: ") {
			fmt.Println(line)
		}
	}
	// Output:
	// stopped → starting (requested)
	// starting → running (ready)
	// running → stopping (requested)
	// stopping → zombie (requested, exit status 0)
	// zombie → stopped (requested)
	// worker got "some data"
	// worker done
}
