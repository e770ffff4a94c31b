package main

import (
	"bytes"
	"strings"
	"testing"
)

// Every command of the table, hidden ones too, has a summary and a help
// text, and `launcher CMD --help` prints its usage line, exit status 0.
func TestEveryCommandHasHelp(t *testing.T) {
	for _, cmd := range commands {
		if cmd.summary == "" || cmd.help == "" || cmd.run == nil {
			t.Errorf("%s: summary, help and run are required", cmd.name)
		}
		var out, errOut bytes.Buffer
		if err := run([]string{cmd.name, "--help"}, &out, &errOut); err != nil {
			t.Errorf("%s --help: %v", cmd.name, err)
		}
		if !strings.HasPrefix(out.String(), usageLine(cmd)+"\n\n"+cmd.help+"\n") || errOut.Len() > 0 {
			t.Errorf("%s --help wrote\n%s\nstderr %q", cmd.name, out.String(), errOut.String())
		}
	}
}
