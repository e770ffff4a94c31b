// commands.go: the table of commands, their flags and help texts.

package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"strings"
	"time"

	"github.com/proclauncher/launcher"
)

// command is one entry of the command table: everything launcher knows
// about a command, from which it parses the command line, runs it, writes
// its help and the shell completion scripts.
type command struct {
	name string
	// synopsis is what follows the command and its flags on the usage
	// line: "[name ...]", "SIG name ...".
	synopsis string
	// summary is one line for the overview of `launcher help`.
	summary string
	// help is the rest of `launcher help NAME`: what it does, in full.
	help string
	// flags defines the command's flags on fs, storing into o; nil: none.
	flags func(fs *flag.FlagSet, o *options)
	// operands says what the operands are, for the completion scripts.
	operands operandKind
	// run carries the command out; its operands are args, without flags.
	run func(c *cli, args []string) error
	// hidden commands are in neither the overview nor the completions.
	hidden bool
}

// operandKind is what a command's operands are, for completion.
type operandKind int

const (
	noOperands     operandKind = iota
	daemonOperands             // daemon names of the config
	signalOperands             // a signal, then daemon names
	commandOperand             // one command name
	shellOperand               // bash, zsh or fish
)

// options holds the flags of every command; each command's flags func
// defines the ones it takes. Zero values are never seen: the flags
// funcs set the defaults.
type options struct {
	wait    bool
	timeout time.Duration
	json    bool
	follow  bool
	lines   int
	keep    bool
	init    bool
	verbose bool
}

// Flag definitions shared by several commands.

func waitFlags(fs *flag.FlagSet, o *options) {
	fs.BoolVar(&o.wait, "wait", false, "wait until each is running (start, restart) or gone (stop, force-stop)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up waiting after `D`, like 10s or 2m")
}

func linesFlag(fs *flag.FlagSet, o *options) {
	fs.IntVar(&o.lines, "n", 10, "show the last `N` lines of the log")
}

// commands is the command table. init fills it: help and completion read
// it, which a var initializer may not.
var commands []*command

func init() {
	commands = []*command{{
		name:     "start",
		synopsis: "[name ...]",
		summary:  "start daemons (and want them up)",
		help: `Starts the named daemons (all of them without names) in dependency order:
a daemon starts once those it names in "after" run, and those are started
too (all the way down). It records that they are wanted up, so a running
"launcher up" keeps them up.

Without --wait it returns once each named daemon is spawned (after those
it runs after run); with --wait, once each
runs (it stayed up start_secs, or said it is ready). A daemon with
ready = "notify" is waited for until it says READY=1 where no "launcher
up" supervises it: nobody but this command would hear it. A daemon that
fails to start is reported with its exit status and the last lines of
its log.`,
		flags:    waitFlags,
		operands: daemonOperands,
		run:      control(startAction),
	}, {
		name:     "stop",
		synopsis: "[name ...]",
		summary:  "stop daemons (and want them down), in reverse dependency order",
		help: `Stops the named daemons (all of them without names), in reverse dependency
order: stop_signal, then SIGKILL once stop_timeout has passed. It records
that they are wanted down, so a running "launcher up" does not restart them.

Where "launcher up" supervises a daemon, it does the stop, and without
--wait this command returns once it has asked; with --wait, once each is
gone. Where nothing supervises it, this command does the stop and stays
until each is gone (it alone is left to send SIGKILL at stop_timeout).`,
		flags:    waitFlags,
		operands: daemonOperands,
		run:      control(stopAction),
	}, {
		name:     "restart",
		synopsis: "[name ...]",
		summary:  "stop, then start again",
		help: `Stops the named daemons (all of them without names) and starts them again:
all are stopped first, in reverse dependency order, then started, in
dependency order. A stopped daemon is just started. They are wanted up.
What they run after is started if it does not run (not restarted); one
whose dependency cannot be started is left as it is.

Without --wait it returns once each new process is spawned (and a daemon
with ready = "notify" that no "launcher up" supervises has said READY=1,
as for start); with --wait, once each runs. A daemon that fails to start
is reported with its exit status and the last lines of its log.`,
		flags:    waitFlags,
		operands: daemonOperands,
		run:      control(restartAction),
	}, {
		name:     "force-stop",
		synopsis: "[name ...]",
		summary:  "kill daemons with SIGKILL",
		help: `Kills the named daemons (all of them without names; the whole process
group of each) with SIGKILL at once, and records that they are wanted
down.`,
		flags:    waitFlags,
		operands: daemonOperands,
		run:      control(forceStopAction),
	}, {
		name:     "enable",
		synopsis: "[name ...]",
		summary:  "allow daemons to start",
		help: `Allows the named daemons (all of them without names) to be started again:
removes their <name>.disabled files.`,
		operands: daemonOperands,
		run:      control(enableAction),
	}, {
		name:     "disable",
		synopsis: "[name ...]",
		summary:  "keep daemons from starting (running ones go on)",
		help: `Keeps the named daemons (all of them without names) from being started or
restarted, by anyone, until enabled: creates their <name>.disabled files.
Running ones go on.`,
		operands: daemonOperands,
		run:      control(disableAction),
	}, {
		name:     "status",
		synopsis: "[name ...]",
		summary:  "show daemons; exit status 0 if all are running, 3 if not",
		help: `Shows a table of the named daemons (all of them without names), or with
--json a list of objects. With one name and no --json it shows that
daemon in detail, as systemctl status does: its state and why, pid,
uptime, restarts, last exit, whether it is wanted up and enabled, its
supervisor, CPU time and memory, and the last -n lines of its log.

A daemon whose process runs another command than the config's (it was
started from an older config) shows as "running (outdated)": a restart
applies the config.

Exit status: 0 when all the named daemons are running, 3 when any is not
(as LSB init scripts), 1 on an error.`,
		flags: func(fs *flag.FlagSet, o *options) {
			fs.BoolVar(&o.json, "json", false, "print JSON: a list with one object per daemon")
			linesFlag(fs, o)
		},
		operands: daemonOperands,
		run:      (*cli).status,
	}, {
		name:     "log",
		synopsis: "[name ...]",
		summary:  "show the last lines of logs; -f follows them",
		help: `Prints the last -n lines of the named daemons' logs (all of them without
names). With -f it goes on printing lines as they are written, through
rotation, until interrupted (as supervisorctl's maintail). With more than
one daemon, each line starts with its daemon's name: "web | line".`,
		flags: func(fs *flag.FlagSet, o *options) {
			fs.BoolVar(&o.follow, "f", false, "follow: print lines as they are written, until interrupted")
			linesFlag(fs, o)
		},
		operands: daemonOperands,
		run:      (*cli).log,
	}, {
		name:     "signal",
		synopsis: "SIG name ...",
		summary:  "send a signal to daemons' main processes",
		help: `Sends signal SIG to the main process of each named daemon. SIG is a name,
with or without SIG, in any case (HUP, SIGUSR1, term), or a number (15).

A daemon that is not running is an error that names it; the others get
the signal all the same. Exit status 1 if any could not be signalled.`,
		operands: signalOperands,
		run:      (*cli).signal,
	}, {
		name:     "up",
		synopsis: "[name ...]",
		summary:  "supervise in the foreground, printing events",
		help: `Supervises in the foreground: starts the named daemons and those they run
after (all the enabled ones without names), restarts them per their restart policy and prints
every event, until SIGINT or SIGTERM. Then it stops the daemons it
supervises, in reverse dependency order, and waits for them at most the
longest stop_timeout and 5s more (a second signal kills them at once),
unless --keep leaves them running.

Signals: SIGINT and SIGTERM stop it, as above. SIGHUP reloads the config,
as "launcher reload" does. SIGUSR1 and SIGUSR2 go on to the main process
of every daemon it supervises that runs.

Where another "launcher up" supervises a daemon already, this one stands
by for it, takes over when that one ends, and says which it does.

As a container's init (PID 1, or with --init) it also reaps every orphan
that ends (it makes itself their reaper: PR_SET_CHILD_SUBREAPER).

Under systemd (a Type=notify service: NOTIFY_SOCKET is set) it sends
READY=1 once none of its daemons is on its way any more (each runs, or
stays down: wanted down, disabled, given up, or waiting for one that
stays down), STATUS= with the count of daemons by state when it changes,
WATCHDOG=1 every WATCHDOG_USEC/2 (WatchdogSec=), RELOADING=1 on SIGHUP
and READY=1 after it, and STOPPING=1 when it stops. The daemons do not
inherit NOTIFY_SOCKET or WATCHDOG_*. See examples/launcher.service.

Exit status: 0 when each daemon it supervises ended cleanly the last time
it ended: with exit status 0, or by its stop signal after a stop was
asked for (one that never ran counts as clean); 1 when one was killed
with SIGKILL (at its stop_timeout, or by a second signal), crashed, or
was not stopped in time, and on an error. With --keep: 0.`,
		flags: func(fs *flag.FlagSet, o *options) {
			fs.BoolVar(&o.keep, "keep", false, "leave the daemons running when up ends")
			fs.BoolVar(&o.init, "init", false, "reap orphans, as an init (on by itself as PID 1)")
			fs.BoolVar(&o.verbose, "v", false, "also say which orphans it reaped, and the daemons a reload left unchanged")
		},
		operands: daemonOperands,
		run:      (*cli).up,
	}, {
		name:    "reload",
		summary: "make the running up apply the config's changes",
		help: `Makes the running "launcher up" of this config re-read it and apply the
changes, as SIGHUP to it does: daemons added are started (if enabled),
daemons removed are stopped and no longer supervised, daemons whose
settings changed in any way are restarted with the new ones (those
wanted down stay down), and the others are left alone. It prints what
each up did, like "web: changed, restarted"; -v lists the unchanged
daemons too.

A config with errors changes nothing: reload says why (file:line: key)
and signals nobody; the up goes on with the config it has.

It finds the ups through the records they keep in the pid dir
(.up.PID: their pid, process start time and config), signals each one
that runs this config file, and waits until each has applied it.

Exit status: 0 when every up applied the config, 1 if not.`,
		flags: func(fs *flag.FlagSet, o *options) {
			fs.DurationVar(&o.timeout, "timeout", waitForReload, "give up waiting for up after `D`")
			fs.BoolVar(&o.verbose, "v", false, "also list the daemons left unchanged")
		},
		operands: noOperands,
		run:      (*cli).reload,
	}, {
		name:     "completion",
		synopsis: "bash|zsh|fish",
		summary:  "print a shell completion script",
		help: `Prints a completion script for the shell: commands, flags, signals, and
daemon names read from the config of the command line being completed
(-c, else $LAUNCHER_CONFIG, else ./launcher.toml).

  bash:  source <(launcher completion bash)
         (or save it as /etc/bash_completion.d/launcher)
  zsh:   launcher completion zsh > "${fpath[1]}/_launcher"
  fish:  launcher completion fish > ~/.config/fish/completions/launcher.fish`,
		operands: shellOperand,
		run:      (*cli).completion,
	}, {
		name:     "help",
		synopsis: "[command]",
		summary:  "show the commands, or what one does and its flags",
		help:     `Shows the commands, or with a command's name its usage, what it does and its flags.`,
		operands: commandOperand,
		run:      (*cli).help,
	}, {
		name:     "version",
		summary:  "print the version",
		help:     `Prints the module version, or the VCS revision the program was built from.`,
		run:      (*cli).version,
		operands: noOperands,
	}, {
		name:     completeNamesCommand,
		summary:  "print the config's daemon names, one a line (for completion scripts)",
		help:     `Prints the names of the config's daemons, one a line, and nothing on an error. The completion scripts call it.`,
		run:      (*cli).completeNames,
		hidden:   true,
		operands: noOperands,
	}}
}

// completeNamesCommand is the hidden command the completion scripts call.
const completeNamesCommand = "__complete-names"

// lookup returns the command called name, or nil.
func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// visibleCommands are the commands of the overview and the completions.
func visibleCommands() []*command {
	var out []*command
	for _, c := range commands {
		if !c.hidden {
			out = append(out, c)
		}
	}
	return out
}

// flagSet returns a new FlagSet with cmd's flags, storing into o.
func (cmd *command) flagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned, help written by writeCommandHelp
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	return fs
}

// parseArgs parses fs's flags anywhere among the operands (`stop web
// --wait`) and returns the operands; after "--" everything is one.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagError(fs, err)
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(operands, rest...), nil
		}
		if len(rest) == 0 {
			return operands, nil
		}
		operands = append(operands, rest[0])
		args = rest[1:]
	}
}

// flagError adds a suggestion to an unknown flag's error.
func flagError(fs *flag.FlagSet, err error) error {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: ")
	if !ok {
		return err
	}
	var known []string
	fs.VisitAll(func(f *flag.Flag) { known = append(known, f.Name) })
	return errors.New("unknown flag " + name + didYouMean(strings.TrimLeft(name, "-"), known, flagName))
}

// flagName writes a flag as it is typed: -n, --wait.
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// An action is what one of the control commands asks of the Manager, and
// when it is done.
type action struct {
	request func(m *launcher.Manager, names ...string) error
	// reached says whether d got where the command takes it: with wait
	// the end state, without it far enough that no controller is needed
	// any more (spawned, or signalled). pidBefore is its pid before the
	// request. Nil: the request is all there is to it.
	reached func(d *launcher.Daemon, wait bool, pidBefore int) bool
	// starts: a daemon that ends after this command started it failed.
	starts bool
	// stopFirst: stop them all (and wait until they are gone) before the
	// request (a restart that keeps the dependency order).
	stopFirst bool
}

var (
	startAction = action{
		request: (*launcher.Manager).Start,
		reached: func(d *launcher.Daemon, wait bool, pidBefore int) bool {
			if wait || onlyListener(d, pidBefore) {
				return d.State() == launcher.Running
			}
			return d.State() != launcher.Stopped
		},
		starts: true,
	}
	restartAction = action{
		request:   (*launcher.Manager).Start,
		stopFirst: true,
		reached: func(d *launcher.Daemon, wait bool, pidBefore int) bool {
			st := d.State()
			if wait || onlyListener(d, pidBefore) {
				return st == launcher.Running && d.PID() != pidBefore
			}
			return (st == launcher.Starting || st == launcher.Running) && d.PID() != pidBefore
		},
		starts: true,
	}
	stopAction      = action{request: (*launcher.Manager).Stop, reached: stopReached}
	forceStopAction = action{request: (*launcher.Manager).ForceStop, reached: killReached}
	enableAction    = action{request: (*launcher.Manager).Enable}
	disableAction   = action{request: (*launcher.Manager).Disable}
)

// onlyListener reports whether this command is the only one to hear the
// daemon say it is ready: it uses sd_notify (ready = "notify"), no
// supervisor runs, and this command spawned its process (another pid
// than before it: the spawner binds its socket). A start then waits for
// READY=1 even without --wait: after this command a READY=1 would reach
// nobody, and the daemon would show as starting for ever. A process
// started earlier, by another command, is not waited for: its socket is
// not this command's to hear. (A readiness line on an fd waits in its
// FIFO for whoever looks.)
func onlyListener(d *launcher.Daemon, pidBefore int) bool {
	if d.Spec().Ready != launcher.ReadyNotify {
		return false
	}
	if pid := d.PID(); pid == 0 || pid == pidBefore {
		return false
	}
	sup := d.Status().Supervisor
	return sup == 0 || sup == os.Getpid()
}

// stopReached: with --wait, gone; without, the stop is in hands that will
// finish it (SIGKILL at stop_timeout): at once where another controller
// supervises the daemon (the wish is written; svc -d returns as soon), but
// where none does, only this command is left to finish it, so it stays
// until the daemon is gone.
func stopReached(d *launcher.Daemon, wait bool, _ int) bool {
	st := d.Status()
	if st.State == launcher.Stopped {
		return true
	}
	return !wait && st.Supervisor != 0 && st.Supervisor != os.Getpid() && !st.WantUp
}

// killReached: SIGKILL is sent by this command; with --wait, gone.
func killReached(d *launcher.Daemon, wait bool, _ int) bool {
	st := d.State()
	if wait {
		return st == launcher.Stopped
	}
	return st == launcher.Stopping || st == launcher.Stopped
}
