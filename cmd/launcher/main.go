// Command launcher starts, stops, watches and supervises the daemons of a
// config file, like supervisorctl or Proc::Launcher's panctl. Run
// `launcher help` for the commands.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/proclauncher/launcher"
)

// main only maps run's error to an exit status.
func main() {
	launcher.Main() // first: the daemons' re-exec shim runs in here
	os.Exit(exitCode(run(os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// exitError is an exit status whose message, if any, was written already
// (status says 3).
type exitError struct{ code int }

func (e *exitError) Error() string { return "exit status " + strconv.Itoa(e.code) }

// usageError is a command line that makes no sense: exit status 2. With a
// command, its usage line follows the message; without one, a pointer to
// help (or, with overview, the overview itself).
type usageError struct {
	cmd      *command
	msg      string
	overview bool
}

func (e *usageError) Error() string {
	if e.cmd != nil {
		return e.cmd.name + ": " + e.msg
	}
	return e.msg
}

func exitCode(err error, stderr io.Writer) int {
	var ue *usageError
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exitError); ok {
		return ee.code
	}
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "launcher: %s\n", ue.Error())
		switch {
		case ue.cmd != nil:
			fmt.Fprintf(stderr, "%s\nRun \"launcher help %s\" for more.\n", usageLine(ue.cmd), ue.cmd.name)
		case ue.overview:
			writeOverview(stderr)
		default:
			fmt.Fprintln(stderr, `Run "launcher help" for the commands.`)
		}
		return 2
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, "launcher: ") {
			line = "launcher: " + line
		}
		fmt.Fprintln(stderr, line)
	}
	return 1
}

// run is the whole command: args without the program name.
func run(args []string, stdout, stderr io.Writer) error {
	global := flag.NewFlagSet("launcher", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	var configPath string
	global.StringVar(&configPath, "c", "", "config file")
	global.StringVar(&configPath, "config", "", "config file")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeOverview(stdout)
			return nil
		}
		return &usageError{msg: err.Error()}
	}
	args = global.Args()
	if len(args) == 0 {
		return &usageError{msg: "no command", overview: true}
	}
	cmd := lookup(args[0])
	if cmd == nil {
		return unknownCommand(args[0])
	}
	var opts options
	operands, err := parseArgs(cmd.flagSet(&opts), args[1:])
	if errors.Is(err, flag.ErrHelp) {
		writeCommandHelp(stdout, cmd)
		return nil
	}
	if err != nil {
		return &usageError{cmd: cmd, msg: err.Error()}
	}
	c := &cli{configPath: configPath, stdout: stdout, stderr: stderr, cmd: cmd, opts: &opts, paint: newPainter(stdout)}
	return cmd.run(c, operands)
}
