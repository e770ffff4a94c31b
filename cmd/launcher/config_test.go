package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/pelletier/go-toml/v2"
	"github.com/rogpeppe/go-internal/txtar"
)

func TestSuggest(t *testing.T) {
	names := []string{"web", "worker", "db", "start", "status", "restart", "stop"}
	for _, tt := range []struct {
		word string
		want string
	}{
		{"wbe", "web"},       // a swap
		{"Web", "web"},       // case
		{"stauts", "status"}, // a swap
		{"statsu", "status"},
		{"srart", "start"},
		{"resta", "restart"}, // a prefix of one
		{"sta", ""},          // a prefix of several
		{"xy", ""},           // two edits of two letters: nothing like
		{"nope", ""},
		{"stpo", "stop"},
		{"wrker", "worker"},
		{"ab", "db"},
	} {
		if got := strings.Join(suggest(tt.word, names), " or "); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
	if got := didYouMean("stap", []string{"stop", "step"}, nil); got != "; did you mean step or stop?" {
		t.Errorf("two as close: %q", got)
	}
}

func TestParseSignal(t *testing.T) {
	for _, s := range []string{"TERM", "term", "SIGTERM", "sigterm", "SigTerm", "15"} {
		if sig, err := parseSignal(s); err != nil || sig != 15 {
			t.Errorf("parseSignal(%q) = %v, %v; want SIGTERM", s, sig, err)
		}
	}
	for _, s := range []string{"", "SIG", "FOO", "0", "65", "-1", "1.5"} {
		if sig, err := parseSignal(s); err == nil {
			t.Errorf("parseSignal(%q) = %v, want an error", s, sig)
		}
	}
}

// The config's relative paths are relative to its file: the dirs, and a
// command[0] with a slash; a bare program name is left to PATH.
func TestConfigRelativePaths(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "conf", "launcher.toml")
	os.MkdirAll(filepath.Dir(cfg), 0o755)
	os.WriteFile(cfg, []byte(`pid_dir = "run"
log_dir = "/var/tmp/log"
[daemon.a]
command = ["./bin/a", "./arg"]
dir = "data"
[daemon.b]
command = ["bin/b"]
dir = "/srv"
[daemon.c]
command = ["sleep", "1"]
[daemon.d]
command = ["/usr/bin/env"]
`), 0o644)
	c, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Dir(cfg)
	want := map[string][2]string{
		"a": {filepath.Join(base, "bin/a"), filepath.Join(base, "data")},
		"b": {filepath.Join(base, "bin/b"), "/srv"},
		"c": {"sleep", ""},
		"d": {"/usr/bin/env", ""},
	}
	for _, s := range c.daemons {
		if w := want[s.Name]; s.Command[0] != w[0] || s.Dir != w[1] {
			t.Errorf("%s: command[0] %q dir %q, want %q %q", s.Name, s.Command[0], s.Dir, w[0], w[1])
		}
		if s.PIDDir != filepath.Join(base, "run") || s.LogDir != "/var/tmp/log" {
			t.Errorf("%s: dirs %q %q", s.Name, s.PIDDir, s.LogDir)
		}
	}
	if a := c.spec("a"); a.Command[1] != "./arg" {
		t.Errorf("an argument was changed: %q", a.Command)
	}
}

// Every duration key takes a string only, and says where it is.
func TestConfigDurations(t *testing.T) {
	for _, key := range []string{"stop_timeout", "start_secs", "watchdog", "restart_delay", "max_restart_delay", "reset_after", "restart_window"} {
		text := "[daemon.web]\ncommand = [\"true\"]\n" + key + " = 10\n"
		_, err := parseConfig("f.toml", []byte(text))
		want := "bad config: f.toml:3: daemon.web." + key + ": want a duration string"
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s = 10: %v, want %s...", key, err, want)
		}
	}
	c, err := parseConfig("f.toml", []byte("[daemon.web]\ncommand = [\"true\"]\nstart_secs = \"-1s\"\nstop_timeout = \"1.5s\"\n"))
	if err != nil || c.daemons[0].StartSecs != -time.Second || c.daemons[0].StopTimeout != 1500*time.Millisecond {
		t.Errorf("durations: %v %+v", err, c)
	}
	if _, err := parseConfig("f.toml", []byte("[daemon.web]\ncommand = [\"true\"]\nstop_timeout = \"-1s\"\n")); err == nil ||
		!strings.Contains(err.Error(), `f.toml:3: daemon.web.stop_timeout: "-1s" is negative`) {
		t.Errorf("negative stop_timeout: %v", err)
	}
}

// A config decoded one table at a time is the same as decoded whole, or
// not decoded that way at all (nil: the whole text is decoded instead).
func TestDecodeSectionsSameAsWhole(t *testing.T) {
	var big strings.Builder
	big.WriteString("pid_dir = \"run\"\n")
	for i := range 100 {
		fmt.Fprintf(&big, "[daemon.d%d]\ncommand = [\"sleep\", \"%d\"]\n[daemon.d%d.env]\nX = \"%d\"\n", i, i, i, i)
	}
	docs := map[string]struct {
		text  string
		plain bool // must decode by sections
	}{
		"big":       {big.String(), true},
		"strings":   {"[daemon.a]\ncommand = [\"sh\", \"\"\"\n[daemon.b]\nx = 1\n\"\"\"]\n[daemon.c]\ncommand = ['''\n[daemon.d]\n''']\n", true},
		"comments":  {"# [daemon.x]\n  [daemon.a] # here\ncommand = [\"x\"] # [daemon.y]\n\n[ daemon . \"b\" ]\ncommand = [\"y\"]\n", true},
		"dotted":    {"daemon.a.command = [\"x\"]\n[daemon.b]\nenv.X = \"1\"\ncommand = [\"y\"]\n", true},
		"inline":    {"[daemon]\na = { command = [\"x\"], env = { A = \"b\" } }\n[daemon.b]\ncommand = [\"y\"]\n", true},
		"duplicate": {"[daemon.a]\ncommand = [\"x\"]\n[daemon.a]\ncommand = [\"y\"]\n", false},
		// The same table twice, its keys apart: merged, where the whole
		// text is an error (a config of more than 32 tables took it).
		"duplicate-apart":    {"[daemon.a]\ncommand = [\"x\"]\n[daemon.b]\ncommand = [\"y\"]\n[daemon.a]\nrestart = \"always\"\n", false},
		"quoted-again":       {"[daemon.a]\ncommand = [\"x\"]\n[daemon.\"a\"]\nrestart = \"always\"\n", false},
		"super-after":        {"[daemon.d3]\ncommand = [\"x\"]\n[daemon]\nd3.restart = \"always\"\n", false},
		"dotted-then-header": {"[daemon.x]\ncommand = [\"x\"]\nenv.A = \"1\"\n[daemon.x.env]\nB = \"2\"\n", false},
		"arrays":             {"[[daemon]]\nx = 1\n[[daemon]]\nx = 2\n", false},
		"broken":             {"[daemon.a]\ncommand = [\"x\"\n[daemon.b]\n", false},
	}
	files, _ := filepath.Glob("testdata/*.txtar")
	for _, f := range files {
		ar, err := txtar.ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, af := range ar.Files {
			if strings.HasSuffix(af.Name, ".toml") {
				docs[f+":"+af.Name] = struct {
					text  string
					plain bool
				}{string(af.Data), false}
			}
		}
	}
	for name, d := range docs {
		var whole map[string]any
		wholeErr := toml.Unmarshal([]byte(d.text), &whole)
		got := decodeSections([]byte(d.text), indexKeys([]byte(d.text)))
		switch {
		case got == nil && d.plain:
			t.Errorf("%s: not decoded by sections (whole: %v)", name, wholeErr)
		case got != nil && wholeErr != nil:
			t.Errorf("%s: decoded by sections, but the whole text is an error: %v", name, wholeErr)
		case got != nil:
			if diff := cmp.Diff(whole, got); diff != "" {
				t.Errorf("%s: by sections != whole (-whole +sections):\n%s", name, diff)
			}
		}
	}
}

// In a config of many daemons (the daemon table has more keys than
// manyKeys) a misspelt key is still found, with its line and the key
// meant, and a config without one has no problem.
func TestConfigManyDaemonsUnknownKey(t *testing.T) {
	var sb strings.Builder
	for i := range 2 * manyKeys {
		fmt.Fprintf(&sb, "[daemon.d%d]\ncommand = [\"sleep\", \"600\"]\n", i)
		if i == manyKeys+3 {
			sb.WriteString("restrat = \"always\"\n")
		}
	}
	_, err := parseConfig("many.toml", []byte(sb.String()))
	want := fmt.Sprintf("many.toml:%d: daemon.d%d.restrat: unknown key; did you mean restart?", 2*(manyKeys+3)+3, manyKeys+3)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to say %q", err, want)
	}
	if _, err := parseConfig("many.toml", []byte(strings.ReplaceAll(sb.String(), "restrat", "restart"))); err != nil {
		t.Fatalf("without the misspelling: %v", err)
	}
}

// A user or group that does not exist is said to be so, whatever its
// name (one with "getent" in it was taken for a getent that failed), and
// one that getent would take for an option is unknown, not root.
func TestConfigUnknownUser(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"user", "getent-missing-lt", `daemon.web.user: no user "getent-missing-lt" on this machine`},
		{"group", "getentgrp-lt", `daemon.web.group: no group "getentgrp-lt" on this machine`},
		{"user", "--", `daemon.web.user: no user "--" on this machine`},
		{"user", "-0", `daemon.web.user: no user "-0" on this machine`},
	} {
		text := fmt.Sprintf("[daemon.web]\ncommand = [\"true\"]\n%s = %q\n", tc.key, tc.value)
		_, err := parseConfig("u.toml", []byte(text))
		if err == nil || !strings.HasSuffix(err.Error(), "u.toml:3: "+tc.want) {
			t.Errorf("%s = %q: %v; want it to end %q", tc.key, tc.value, err, "u.toml:3: "+tc.want)
		}
	}
}

// A config that starts with a UTF-8 byte-order mark is the same config,
// with the same lines in its errors.
func TestConfigByteOrderMark(t *testing.T) {
	text := "pid_dir = \"run\"\n[daemon.web]\ncommand = [\"true\"]\n"
	plain, err := parseConfig("c.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	marked, err := parseConfig("c.toml", []byte("\ufeff"+text))
	if err != nil {
		t.Fatalf("with a byte-order mark: %v", err)
	}
	if diff := cmp.Diff(plain.daemons, marked.daemons); diff != "" {
		t.Errorf("with a byte-order mark (-without +with):\n%s", diff)
	}
	_, err = parseConfig("c.toml", []byte("\ufeff"+text+"bogus = 1\n"))
	if err == nil || !strings.Contains(err.Error(), "c.toml:4: daemon.web.bogus: unknown key") {
		t.Errorf("an unknown key after a byte-order mark: %v, want it on line 4", err)
	}
}

// BenchmarkParseConfig: a config of n daemons, each a [daemon.NAME] table
// of four keys, as every CLI command parses it before anything else.
// Before the key index was made lazy and the keys read were kept in a
// slice: 0.98 ms at 100, 139 ms at 10 000; after: 0.44 ms and 78 ms.
func BenchmarkParseConfig(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		var sb strings.Builder
		sb.WriteString("pid_dir = \"/run/x\"\nlog_dir = \"/var/log/x\"\n")
		for i := range n {
			fmt.Fprintf(&sb, "\n[daemon.d%d]\ncommand = [\"sleep\", \"600\"]\nstart_secs = \"-1s\"\nrestart = \"always\"\n", i)
		}
		text := []byte(sb.String())
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := parseConfig("bench.toml", text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
