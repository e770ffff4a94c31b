//go:build linux

package launcher_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/proclauncher/launcher"
)

// A Manager supervises several daemons; Run is its loop. Cancelling Run's
// context stops what it supervises (dependents first) and Run returns once
// all are stopped. Events are read in another goroutine.
func ExampleManager_Run() {
	dir, err := os.MkdirTemp("", "launcher-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	m := launcher.NewManager(launcher.Options{PIDDir: filepath.Join(dir, "run"), LogDir: filepath.Join(dir, "log")})
	defer m.Close()
	m.Add(launcher.Spec{Name: "db", Command: []string{"sleep", "60"}, StartSecs: 50 * time.Millisecond})
	m.Add(launcher.Spec{Name: "web", Command: []string{"sleep", "60"}, StartSecs: 50 * time.Millisecond,
		After: []string{"db"}, Restart: launcher.RestartOnFailure})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	if err := m.Start(); err != nil {
		fmt.Println(err)
	}
	for ev := range m.Events() {
		fmt.Printf("%s %s → %s (%s)\n", ev.Daemon, ev.From, ev.To, ev.Reason)
		if ev.Daemon == "web" && ev.To == launcher.Running {
			cancel() // the program ends: Run stops what it supervises
		}
		if ev.Daemon == "db" && ev.To == launcher.Stopped {
			break
		}
	}
	fmt.Println("run:", <-done)
	// Output:
	// db stopped → starting (requested)
	// db starting → running (ready)
	// web stopped → starting (requested)
	// web starting → running (ready)
	// web running → stopping (requested)
	// web stopping → zombie (requested)
	// web zombie → stopped (requested)
	// db running → stopping (requested)
	// db stopping → zombie (requested)
	// db zombie → stopped (requested)
	// run: <nil>
}

// A program with its own select loop polls when Wake fires and reads
// Events; Shutdown stops and waits at its end (Close alone would leave the
// daemons running, for the next Manager to adopt).
func ExampleManager_Shutdown() {
	dir, err := os.MkdirTemp("", "launcher-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	m := launcher.NewManager(launcher.Options{PIDDir: filepath.Join(dir, "run"), LogDir: filepath.Join(dir, "log")})
	defer m.Close()
	m.Add(launcher.Spec{Name: "worker", Command: []string{"sleep", "60"}, StartSecs: -1})
	m.Start()

	ticker := time.NewTicker(time.Hour) // the program's own work
	defer ticker.Stop()
	for running := false; !running; {
		select {
		case <-m.Wake():
			m.Poll(time.Now())
		case ev := <-m.Events():
			fmt.Println(ev.Daemon, ev.To)
			running = ev.To == launcher.Running
		case <-ticker.C:
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fmt.Println("shutdown:", m.Shutdown(ctx))
	st, _ := m.Daemon("worker")
	fmt.Println(st.Status().State)
	// Output:
	// worker starting
	// worker running
	// shutdown: <nil>
	// stopped
}

// Follow delivers a daemon's log lines on a channel as they are written,
// through rotation and restarts; LastLines starts a few lines back.
func ExampleDaemon_Follow() {
	spec, dir, err := tempSpec("counter")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	spec.Command = []string{"sh", "-c", "for i in 1 2 3; do echo line $i; done; exec sleep 60"}
	d, err := launcher.New(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shutdown(d)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := d.Follow(ctx, launcher.FromStart)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	if err := d.Start(nil); err != nil {
		fmt.Println(err)
		return
	}
	timeout := time.After(10 * time.Second)
	for n := 0; n < 3; {
		select {
		case l := <-f.Lines():
			if l.Daemon == "counter" && len(l.Text) > 4 && l.Text[:4] == "line" {
				fmt.Println(l.Text)
				n++
			}
		case <-timeout:
			fmt.Println("timed out")
			return
		}
	}
	// Output:
	// line 1
	// line 2
	// line 3
}

// A daemon that says when it is ready (Spec.Ready) is running only then,
// however long that takes: here it writes a line to fd 4 (s6's protocol);
// with ReadyNotify it would send READY=1 to $NOTIFY_SOCKET (systemd's).
func ExampleSpec_ready() {
	spec, dir, err := tempSpec("warmup")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	spec.Command = []string{"sh", "-c", "sleep 0.2; echo ready >&4; exec sleep 60"}
	spec.Ready = launcher.ReadyFD
	d, err := launcher.New(spec)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shutdown(d)
	start := time.Now()
	if err := d.Start(nil); err != nil {
		fmt.Println(err)
		return
	}
	if err := pollUntil(d, launcher.Running); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("ready after its warm-up:", time.Since(start) >= 200*time.Millisecond)
	// Output:
	// stopped → starting (requested)
	// starting → running (ready)
	// ready after its warm-up: true
}
