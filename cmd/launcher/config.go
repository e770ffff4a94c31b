package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/proclauncher/launcher"
	"golang.org/x/sys/unix"
)

// config is a parsed config file: where pid files and logs go, and the
// daemons in an order in which each comes after those it names in after.
type config struct {
	file    string
	pidDir  string
	logDir  string
	daemons []launcher.Spec
}

// fileConfig is the TOML layout:
//
//	pid_dir = "/run/launcher"      # optional; launcher's default otherwise
//	log_dir = "/var/log/launcher"
//
//	[daemon.web]
//	command = ["python3", "-m", "http.server", "8080"]
//	restart = "on-failure"
//	after   = ["db"]
type fileConfig struct {
	PIDDir  string                  `toml:"pid_dir"`
	LogDir  string                  `toml:"log_dir"`
	Daemons map[string]daemonConfig `toml:"daemon"`
}

// daemonConfig holds every Spec and policy field, under snake_case keys.
type daemonConfig struct {
	Command         []string          `toml:"command"`
	Dir             string            `toml:"dir"`
	Env             map[string]string `toml:"env"`
	Umask           string            `toml:"umask"`
	User            string            `toml:"user"`
	Group           string            `toml:"group"`
	StopSignal      string            `toml:"stop_signal"`
	StopTimeout     duration          `toml:"stop_timeout"`
	StartSecs       duration          `toml:"start_secs"`
	KillMode        string            `toml:"kill_mode"`
	Ready           string            `toml:"ready"`
	NotifyFD        int               `toml:"notify_fd"`
	Watchdog        duration          `toml:"watchdog"`
	Restart         string            `toml:"restart"`
	RestartDelay    duration          `toml:"restart_delay"`
	MaxRestartDelay duration          `toml:"max_restart_delay"`
	ResetAfter      duration          `toml:"reset_after"`
	MaxRestarts     int               `toml:"max_restarts"`
	RestartWindow   duration          `toml:"restart_window"`
	After           []string          `toml:"after"`
	LogMaxBytes     int64             `toml:"log_max_bytes"`
	LogBackups      int               `toml:"log_backups"`
	InputFIFO       bool              `toml:"input_fifo"`
}

// duration reads "1.5s", "200ms", "2m" (and, for start_secs, "-1s").
type duration struct{ time.Duration }

// UnmarshalText parses a Go duration; the error shows the examples.
func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration (say 1s, 500ms, 2m)", b)
	}
	d.Duration = v
	return nil
}

// errConfig marks every error about a config file; the message has
// file:line: key: problem.
var errConfig = errors.New("bad config")

// parseConfig reads a config file's text; name is for messages.
func parseConfig(name string, text []byte) (*config, error) {
	var fc fileConfig
	dec := toml.NewDecoder(bytes.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return nil, tomlError(name, err)
	}
	c := &config{file: name, pidDir: fc.PIDDir, logDir: fc.LogDir}
	bad := func(daemon, key, format string, args ...any) error {
		where := name
		if line := locate(text, daemon, key); line > 0 {
			where += ":" + strconv.Itoa(line)
		}
		k := "daemon." + daemon
		if key != "" {
			k += "." + key
		}
		return fmt.Errorf("%w: %s: %s: %s", errConfig, where, k, fmt.Sprintf(format, args...))
	}
	names := make([]string, 0, len(fc.Daemons))
	for n := range fc.Daemons {
		names = append(names, n)
	}
	slices.Sort(names)
	specs := map[string]launcher.Spec{}
	for _, n := range names {
		dc := fc.Daemons[n]
		if !launcher.ValidName(n) {
			return nil, bad(n, "", "bad daemon name: want [A-Za-z0-9._-]+, no leading dot")
		}
		spec, key, err := dc.spec(n)
		if err != nil {
			return nil, bad(n, key, "%v", err)
		}
		spec.PIDDir, spec.LogDir = fc.PIDDir, fc.LogDir
		for _, a := range dc.After {
			if _, ok := fc.Daemons[a]; !ok {
				return nil, bad(n, "after", "unknown daemon %q", a)
			}
		}
		specs[n] = spec
	}
	order, cycle := topoSort(names, specs)
	if cycle != nil {
		return nil, bad(cycle[0], "after", "cycle: %s", strings.Join(cycle, " → "))
	}
	for _, n := range order {
		c.daemons = append(c.daemons, specs[n])
	}
	return c, nil
}

// spec turns one table into a Spec; on error it names the key at fault.
func (dc daemonConfig) spec(name string) (launcher.Spec, string, error) {
	s := launcher.Spec{Name: name, Command: dc.Command, Dir: dc.Dir, User: dc.User, Group: dc.Group,
		StopTimeout: dc.StopTimeout.Duration, StartSecs: dc.StartSecs.Duration, NotifyFD: dc.NotifyFD,
		WatchdogSec: dc.Watchdog.Duration, RestartDelay: dc.RestartDelay.Duration,
		MaxRestartDelay: dc.MaxRestartDelay.Duration, ResetAfter: dc.ResetAfter.Duration,
		MaxRestarts: dc.MaxRestarts, RestartWindow: dc.RestartWindow.Duration, After: dc.After,
		LogMaxBytes: dc.LogMaxBytes, LogBackups: dc.LogBackups, InputFIFO: dc.InputFIFO}
	if len(dc.Command) == 0 || dc.Command[0] == "" {
		return s, "command", errors.New("missing: say command = [\"program\", \"arg\", ...]")
	}
	envKeys := make([]string, 0, len(dc.Env))
	for k := range dc.Env {
		envKeys = append(envKeys, k)
	}
	slices.Sort(envKeys)
	for _, k := range envKeys {
		if k == "" || strings.Contains(k, "=") {
			return s, "env", fmt.Errorf("bad variable name %q", k)
		}
		s.Env = append(s.Env, k+"="+dc.Env[k])
	}
	if dc.Umask != "" {
		v, err := strconv.ParseUint(dc.Umask, 8, 32)
		if err != nil || v > 0o777 {
			return s, "umask", fmt.Errorf("%q is not an octal umask like \"022\"", dc.Umask)
		}
		s.Umask = os.FileMode(v)
	}
	if dc.StopSignal != "" {
		sig := unix.SignalNum("SIG" + strings.TrimPrefix(strings.ToUpper(dc.StopSignal), "SIG"))
		if sig == 0 {
			return s, "stop_signal", fmt.Errorf("unknown signal %q (say TERM, HUP, INT, QUIT)", dc.StopSignal)
		}
		s.StopSignal = syscall.Signal(sig)
	}
	var err error
	if s.KillMode, err = choose("kill_mode", dc.KillMode, map[string]launcher.KillMode{
		"": launcher.KillGroup, "group": launcher.KillGroup, "process": launcher.KillProcess}); err != nil {
		return s, "kill_mode", err
	}
	if s.Ready, err = choose("ready", dc.Ready, map[string]launcher.ReadyMode{
		"": launcher.ReadyStartSecs, "start-secs": launcher.ReadyStartSecs, "notify": launcher.ReadyNotify, "fd": launcher.ReadyFD}); err != nil {
		return s, "ready", err
	}
	if s.Restart, err = choose("restart", dc.Restart, map[string]launcher.RestartPolicy{
		"": launcher.RestartNever, "never": launcher.RestartNever, "on-failure": launcher.RestartOnFailure, "always": launcher.RestartAlways}); err != nil {
		return s, "restart", err
	}
	if s.WatchdogSec != 0 && s.Ready != launcher.ReadyNotify {
		return s, "watchdog", errors.New(`needs ready = "notify"`)
	}
	if slices.Contains(dc.After, name) {
		return s, "after", errors.New("names the daemon itself")
	}
	return s, "", nil
}

func choose[T any](key, v string, options map[string]T) (T, error) {
	if got, ok := options[v]; ok {
		return got, nil
	}
	var words []string
	for k := range options {
		if k != "" {
			words = append(words, strconv.Quote(k))
		}
	}
	slices.Sort(words)
	var zero T
	return zero, fmt.Errorf("%q is not one of %s", v, strings.Join(words, ", "))
}

// topoSort orders names so that each comes after those in its After; on a
// cycle it returns the cycle instead.
func topoSort(names []string, specs map[string]launcher.Spec) (order, cycle []string) {
	const (
		unseen = iota
		visiting
		done
	)
	mark := map[string]int{}
	var path []string
	var visit func(n string) bool
	visit = func(n string) bool {
		switch mark[n] {
		case done:
			return true
		case visiting:
			i := slices.Index(path, n)
			cycle = append(slices.Clone(path[i:]), n)
			return false
		}
		mark[n] = visiting
		path = append(path, n)
		for _, a := range specs[n].After {
			if !visit(a) {
				return false
			}
		}
		path = path[:len(path)-1]
		mark[n] = done
		order = append(order, n)
		return true
	}
	for _, n := range names {
		if !visit(n) {
			return nil, cycle
		}
	}
	return order, nil
}

// tomlError turns the parser's error into file:line: key: problem.
func tomlError(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		e := strict.Errors[0]
		row, _ := e.Position()
		return fmt.Errorf("%w: %s:%d: %s: unknown key", errConfig, name, row, strings.Join(e.Key(), "."))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		key := strings.Join(de.Key(), ".")
		if key != "" {
			key += ": "
		}
		return fmt.Errorf("%w: %s:%d: %s%s", errConfig, name, row, key, de.Error())
	}
	return fmt.Errorf("%w: %s: %v", errConfig, name, err)
}

var headerRE = regexp.MustCompile(`^\s*\[\s*daemon\s*\.\s*"?([^"\]\s]+)"?\s*\]`)

// locate finds the line of key in the [daemon.NAME] table (or of the
// table's header when key is "" or not found); 0 when not found.
func locate(text []byte, daemon, key string) int {
	header := 0
	for i, line := range strings.Split(string(text), "\n") {
		if m := headerRE.FindStringSubmatch(line); m != nil {
			if header > 0 {
				break // the next table: the key is not there
			}
			if m[1] == daemon {
				header = i + 1
			}
			continue
		}
		if header > 0 && key != "" {
			if k, _, ok := strings.Cut(strings.TrimSpace(line), "="); ok && strings.TrimSpace(k) == key {
				return i + 1
			}
		}
	}
	return header
}
