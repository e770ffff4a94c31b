// help.go: `launcher help` and each command's --help.

package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// help is `launcher help [command]`.
func (c *cli) help(args []string) error {
	switch len(args) {
	case 0:
		writeOverview(c.stdout)
		return nil
	case 1:
		cmd := lookup(args[0])
		if cmd == nil {
			return unknownCommand(args[0])
		}
		writeCommandHelp(c.stdout, cmd)
		return nil
	}
	return &usageError{cmd: c.cmd, msg: "name one command"}
}

// unknownCommand is the usage error for a command launcher does not have.
func unknownCommand(name string) error {
	var names []string
	for _, c := range visibleCommands() {
		names = append(names, c.name)
	}
	return &usageError{msg: fmt.Sprintf("unknown command %q%s", name, didYouMean(name, names, nil))}
}

// writeOverview writes the usage of launcher and its commands.
func writeOverview(w io.Writer) {
	fmt.Fprint(w, "usage: launcher [-c config.toml] command [flags] [name ...]\n\nCommands (no names means all the daemons):\n")
	width := 0
	for _, c := range visibleCommands() {
		width = max(width, len(c.name))
	}
	for _, c := range visibleCommands() {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprint(w, `
"launcher help COMMAND" (or "launcher COMMAND --help") shows what a
command does and its flags.

The config is -c FILE, else $LAUNCHER_CONFIG, else ./launcher.toml, else
the built-in demo (examples/demo.toml).
`)
}

// usageLine is cmd's usage on one line.
func usageLine(cmd *command) string {
	var o options
	parts := []string{"usage: launcher", cmd.name}
	cmd.flagSet(&o).VisitAll(func(f *flag.Flag) {
		arg, _ := flag.UnquoteUsage(f)
		if arg == "" {
			parts = append(parts, "["+flagName(f.Name)+"]")
		} else {
			parts = append(parts, "["+flagName(f.Name)+" "+arg+"]")
		}
	})
	if cmd.synopsis != "" {
		parts = append(parts, cmd.synopsis)
	}
	return strings.Join(parts, " ")
}

// writeCommandHelp writes cmd's usage line, what it does, and its flags.
func writeCommandHelp(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "%s\n\n%s\n", usageLine(cmd), cmd.help)
	var o options
	fs := cmd.flagSet(&o)
	type row struct{ left, usage string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		left := flagName(f.Name)
		if arg != "" {
			left += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			usage += " (default " + f.DefValue + ")"
		}
		rows = append(rows, row{left, usage})
		width = max(width, len(left))
	})
	if len(rows) > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		for _, r := range rows {
			fmt.Fprintf(w, "  %-*s  %s\n", width, r.left, r.usage)
		}
	}
}
