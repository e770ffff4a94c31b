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
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/proclauncher/launcher"
)

// main only maps run's error to an exit status.
func main() {
	launcher.Main() // first: the daemons' re-exec shim runs in here
	os.Exit(exitCode(run(os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

const usage = `usage: launcher [-c config.toml] command [flags] [daemon ...]

Commands (no daemon names means all of them):
  start       start daemons (and want them up)
  stop        stop daemons (and want them down), in reverse dependency order
  restart     stop, then start again
  force-stop  kill daemons with SIGKILL
  enable      allow daemons to start
  disable     keep daemons from starting (running ones go on)
  status      show a table, or --json; exit status 0 if all are running, 3 if not
  log NAME    show the last lines of a log (-n N); -f follows it
  up          supervise in the foreground: start, restart per policy, print
              events; on SIGINT or SIGTERM stop all (--keep: leave them running)
  version     print the version

The config is -c FILE, else $LAUNCHER_CONFIG, else ./launcher.toml, else the
built-in demo (examples/demo.toml).
`

// exitError is an exit status without a message (status says 3).
type exitError struct{ code int }

func (e *exitError) Error() string { return "exit status " + strconv.Itoa(e.code) }

// usageError is a command line that makes no sense: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func exitCode(err error, stderr io.Writer) int {
	var ee *exitError
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "launcher: %s\n%s", ue.msg, usage)
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
	configPath := global.String("c", "", "config file")
	global.StringVar(configPath, "config", "", "config file")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return nil
		}
		return &usageError{err.Error()}
	}
	args = global.Args()
	if len(args) == 0 {
		return &usageError{"no command"}
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version":
		fmt.Fprintln(stdout, "launcher", version())
		return nil
	}
	cmdFlags := newCommandFlags(cmd)
	if cmdFlags == nil {
		return &usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
	names, err := cmdFlags.parse(args)
	if err != nil {
		return &usageError{cmd + ": " + err.Error()}
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if err := cfg.checkNames(names); err != nil {
		return err
	}
	c := &cli{cfg: cfg, stdout: stdout, stderr: stderr, flags: cmdFlags, paint: newPainter(stdout)}
	switch cmd {
	case "status":
		return c.status(names)
	case "log":
		if len(names) != 1 {
			return &usageError{"log: name one daemon"}
		}
		return c.log(names[0])
	case "up":
		return c.up(names)
	}
	return c.control(cmd, names)
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// commandFlags are the flags of every command; each command defines the
// ones it takes.
type commandFlags struct {
	fs      *flag.FlagSet
	wait    bool
	timeout string
	json    bool
	follow  bool
	lines   int
	keep    bool
}

func newCommandFlags(cmd string) *commandFlags {
	f := &commandFlags{fs: flag.NewFlagSet(cmd, flag.ContinueOnError), timeout: "30s", lines: 10}
	f.fs.SetOutput(io.Discard)
	switch cmd {
	case "start", "stop", "restart", "force-stop":
		f.fs.BoolVar(&f.wait, "wait", false, "wait until the daemons reach the target state")
		f.fs.StringVar(&f.timeout, "timeout", f.timeout, "how long to wait")
	case "enable", "disable":
	case "status":
		f.fs.BoolVar(&f.json, "json", false, "print JSON")
	case "log":
		f.fs.BoolVar(&f.follow, "f", false, "follow")
		f.fs.IntVar(&f.lines, "n", f.lines, "lines to show")
	case "up":
		f.fs.BoolVar(&f.keep, "keep", false, "leave the daemons running on exit")
	default:
		return nil
	}
	return f
}

// parse takes flags anywhere among the names.
func (f *commandFlags) parse(args []string) ([]string, error) {
	var names []string
	for {
		if err := f.fs.Parse(args); err != nil {
			return nil, err
		}
		args = f.fs.Args()
		if len(args) == 0 {
			return names, nil
		}
		names = append(names, args[0])
		args = args[1:]
	}
}
