//go:build linux

// controller_test.go is the second controller of tests that need one: the
// test binary run again as a controller process (helperController), doing
// one operation named by LAUNCHER_TEST_CONTROLLER (runController).

package launcher

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runController is a controller process for tests that need a second
// controller: it runs one operation on a daemon named by env and prints
// the outcome on stdout.
func runController(mode string) int {
	spec := Spec{Name: os.Getenv("LT_NAME"), Func: "sleep", PIDDir: os.Getenv("LT_PIDDIR"),
		LogDir: os.Getenv("LT_LOGDIR"), StartSecs: -1}
	if c := os.Getenv("LT_COMMAND"); c != "" {
		spec.Func, spec.Command = "", strings.Split(c, "\x1f")
	} else if f := os.Getenv("LT_FUNC"); f != "" {
		spec.Func = f
	}
	d, err := New(spec)
	if err != nil {
		fmt.Println("new:", err)
		return 1
	}
	switch mode {
	case "start-and-hang": // start, report the pid, then wait to be killed
		if err := d.Start(nil); err != nil {
			fmt.Println("start:", err)
			return 1
		}
		fmt.Println(d.PID())
		os.Stdout.Close()
		time.Sleep(helperLifetime)
	case "race-start": // wait for the go signal on stdin, then Start once
		var b [1]byte
		os.Stdin.Read(b[:])
		err := d.Start(nil)
		switch {
		case err == nil:
			fmt.Println("ok", d.PID())
		case errors.Is(err, ErrBusy):
			fmt.Println("busy")
		default:
			fmt.Println("error:", err)
		}
	}
	d.Close()
	return 0
}

// helperController returns a command running this test binary as a second
// controller process.
func helperController(t *testing.T, mode string, spec Spec) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "LAUNCHER_TEST_CONTROLLER="+mode, "LT_NAME="+spec.Name,
		"LT_PIDDIR="+spec.PIDDir, "LT_LOGDIR="+spec.LogDir, "LT_FUNC="+spec.Func,
		"LT_COMMAND="+strings.Join(spec.Command, "\x1f"))
	return cmd
}
