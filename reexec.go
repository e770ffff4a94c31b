// reexec.go is the re-exec of the controller's program that runs a Func
// daemon: Register, Main, and the function's run.

package launcher

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Environment variables that mark a re-exec of the controller's binary.
// Main removes them at once, so the daemon's own children never see them.
const (
	envFunc     = "LAUNCHER_FUNC"    // name of the registered function to run
	envToken    = "LAUNCHER_TOKEN"   // this spawn's token, as in the identity record
	envStopSig  = "LAUNCHER_STOPSIG" // the signal that cancels the function's context
	envUmask    = "LAUNCHER_UMASK"   // octal umask to set, if any
	envShim     = "LAUNCHER_SHIM"    // JSON shimRequest: reset signals, then exec
	envExit     = "LAUNCHER_EXIT"    // where a Func daemon records its own exit (<name>.exit)
	envStream   = "LAUNCHER_STREAM"  // stdin is a stream (InputFIFO): the function reads it itself
	stdinBudget = 64 << 20           // the most data a Func daemon reads from stdin
)

// Func is a function a Func daemon runs. ctx is cancelled when the daemon is
// asked to stop (its StopSignal arrives); data is what Start was given (or
// Spec.Data). With Spec.InputFIFO, data is nil and the function reads
// os.Stdin, the FIFO, itself: Start's data comes first in it. A nil return
// exits the process with status 0, an error with status 1 (the error goes
// to the log).
type Func func(ctx context.Context, data []byte) error

var (
	registryMu sync.Mutex
	registry   = map[string]Func{}
	mainCalled atomic.Bool
)

// Register makes fn available as the Func daemon name. Call it before
// Main, from init or first thing in main, in the program that starts the
// daemons (the daemon is a re-exec of that same binary). Registering a
// name twice, or an empty name or nil fn, panics.
func Register(name string, fn Func) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if name == "" || fn == nil {
		panic("launcher: Register: empty name or nil function")
	}
	if _, dup := registry[name]; dup {
		panic("launcher: Register: " + name + " registered twice")
	}
	registry[name] = fn
}

func registered(name string) Func {
	registryMu.Lock()
	defer registryMu.Unlock()
	return registry[name]
}

// Main must be called first thing in main (a test binary calls it in
// TestMain, before m.Run). In a process that launcher started as a Func
// daemon, Main runs the registered function and exits with its result; in
// the re-exec shim it resets signals and execs the daemon's command. In any
// other process it returns at once. Main is the only function of this
// package that exits the process.
func Main() {
	mainCalled.Store(true)
	if spec, ok := os.LookupEnv(envShim); ok {
		os.Unsetenv(envShim)
		runShim(spec)
	}
	name, ok := os.LookupEnv(envFunc)
	if !ok {
		return
	}
	stopSig, _ := strconv.Atoi(os.Getenv(envStopSig))
	umask, _ := strconv.ParseUint(os.Getenv(envUmask), 8, 32)
	exitPath := os.Getenv(envExit)
	_, stream := os.LookupEnv(envStream)
	for _, k := range []string{envFunc, envToken, envStopSig, envUmask, envExit, envStream} {
		os.Unsetenv(k)
	}
	code := runFunc(name, syscall.Signal(stopSig), os.FileMode(umask), stream)
	if exitPath != "" {
		// Its controller may not be its parent (it died, and another one
		// adopted the daemon): the record tells that one how it ended.
		if st, err := readProcStat(os.Getpid()); err == nil {
			writeExitRecord(exitPath, exitRecord{PID: os.Getpid(), StartTicks: st.startTicks, Code: code})
		}
	}
	os.Exit(code)
}

func runFunc(name string, stopSig syscall.Signal, umask os.FileMode, stream bool) int {
	fn := registered(name)
	if fn == nil {
		fmt.Fprintf(os.Stderr, "launcher: no function %q is registered in this program\n", name)
		return 2
	}
	if umask != 0 {
		unix.Umask(int(umask))
	}
	if stopSig == 0 {
		stopSig = syscall.SIGTERM
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSig)
	defer stop()
	// Stdin is Start's data, read whole; with InputFIFO it is a stream
	// that never ends, which the function reads itself (data is nil).
	var data []byte
	if !stream {
		var err error
		if data, err = io.ReadAll(io.LimitReader(os.Stdin, stdinBudget)); err != nil {
			fmt.Fprintf(os.Stderr, "launcher: %s: reading data: %v\n", name, err)
			return 1
		}
	}
	if err := fn(ctx, data); err != nil {
		fmt.Fprintf(os.Stderr, "launcher: %s: %v\n", name, err)
		return 1
	}
	return 0
}
