package main

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/proclauncher/launcher"
)

func TestColourOn(t *testing.T) {
	for _, tt := range []struct {
		tty     bool
		noColor string
		term    string
		want    bool
	}{
		{true, "", "xterm-256color", true},
		{true, "1", "xterm", false},
		{true, "0", "xterm", false}, // any value but "" means no colour
		{true, "", "dumb", false},
		{true, "", "", true},
		{false, "", "xterm", false},
	} {
		env := map[string]string{"NO_COLOR": tt.noColor, "TERM": tt.term}
		if got := colourOn(tt.tty, func(k string) string { return env[k] }); got != tt.want {
			t.Errorf("tty %v NO_COLOR=%q TERM=%q: got %v, want %v", tt.tty, tt.noColor, tt.term, got, tt.want)
		}
	}
}

// /dev/null is a character device but no terminal; a pseudo-terminal is
// one.
func TestIsTerminal(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Errorf("%s is a terminal", os.DevNull)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) || isTerminal(&bytes.Buffer{}) {
		t.Error("a pipe or a buffer is a terminal")
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer ptmx.Close()
	if !isTerminal(ptmx) {
		t.Error("/dev/ptmx is not a terminal")
	}
}

var escapeRE = regexp.MustCompile("\033\\[[0-9;]*m")

// With colour, the table's columns are where they are without: the state
// column starts under STATE on every line.
func TestTableColourAfterAlignment(t *testing.T) {
	rows := []launcher.Status{
		{Name: "db", State: launcher.Running, PID: 42, Enabled: true},
		{Name: "web", State: launcher.Stopped, WantUp: true},
		{Name: "worker-with-a-long-name", State: launcher.Starting, PID: 43, GaveUp: true},
		{Name: "idle", State: launcher.Stopped},
	}
	var plain, coloured bytes.Buffer
	(&cli{stdout: &plain, paint: false}).writeTable(rows)
	(&cli{stdout: &coloured, paint: true}).writeTable(rows)
	if n := len(escapeRE.FindAllString(coloured.String(), -1)); n != 6 {
		t.Errorf("%d escape codes, want 6 (3 states in colour):\n%s", n, coloured.String())
	}
	if got := escapeRE.ReplaceAllString(coloured.String(), ""); got != plain.String() {
		t.Errorf("without its escape codes the coloured table is\n%s\nwant\n%s", got, plain.String())
	}
	lines := strings.Split(plain.String(), "\n")
	col := strings.Index(lines[0], "STATE")
	for i, st := range rows {
		if got := strings.Index(lines[i+1], st.State.String()); got != col {
			t.Errorf("line %q: state at column %d, header at %d", lines[i+1], got, col)
		}
	}
	if !strings.Contains(coloured.String(), "\033["+green+"mrunning\033[0m") {
		t.Errorf("running is not green:\n%q", coloured.String())
	}
}
