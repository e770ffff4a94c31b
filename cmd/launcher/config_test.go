package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
