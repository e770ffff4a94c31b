// config.go: the TOML config: loading, the daemons' order, and the
// launcher.Spec each daemon becomes.

package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/pelletier/go-toml/v2"
	"github.com/proclauncher/launcher"
	"github.com/proclauncher/launcher/examples"
	"github.com/proclauncher/launcher/internal/userdb"
	"golang.org/x/sys/unix"
)

// config is a parsed config file: where pid files and logs go, and the
// daemons in an order in which each comes after those it names in after.
type config struct {
	file    string
	builtin bool // the built-in demo, not a file
	pidDir  string
	logDir  string
	daemons []launcher.Spec
}

// The TOML layout:
//
//	pid_dir = "/run/launcher"      # optional; launcher's default otherwise
//	log_dir = "/var/log/launcher"
//
//	[daemon.web]
//	command = ["python3", "-m", "http.server", "8080"]
//	restart = "on-failure"
//	after   = ["db"]
//
// The file is decoded into plain maps and read key by key (daemonSpec),
// so that every error names its key and line, in words of TOML's types.

// errConfig marks every error about a config file; the message has
// file:line: key: problem.
var errConfig = errors.New("bad config")

// loadConfig finds and parses the config: path, else $LAUNCHER_CONFIG,
// else ./launcher.toml, else the built-in demo. Relative paths in it (the
// dirs, and a command[0] with a slash) are relative to its file, so that
// any shell anywhere finds the same daemons.
func loadConfig(path string) (*config, error) {
	if path == "" {
		path = os.Getenv("LAUNCHER_CONFIG")
	}
	if path == "" {
		if _, err := os.Stat("launcher.toml"); err == nil {
			path = "launcher.toml"
		}
	}
	if path == "" {
		return builtinConfig()
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := parseConfig(path, text)
	if err != nil {
		return nil, err
	}
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	cfg.pidDir, cfg.logDir = abs(cfg.pidDir), abs(cfg.logDir)
	for i := range cfg.daemons {
		s := &cfg.daemons[i]
		s.PIDDir, s.LogDir, s.Dir = cfg.pidDir, cfg.logDir, abs(s.Dir)
		// "bin/server" and "./bin/server" are files beside the config;
		// "server" is looked up in PATH.
		if strings.Contains(s.Command[0], "/") {
			s.Command[0] = abs(s.Command[0])
		}
	}
	return cfg, nil
}

// builtinConfig is the built-in demo (examples/demo.toml), which keeps
// its files in a temp dir of its own.
func builtinConfig() (*config, error) {
	cfg, err := parseConfig("examples/demo.toml (built in)", examples.DemoTOML)
	if err != nil {
		return nil, err
	}
	cfg.builtin = true
	dir := filepath.Join(os.TempDir(), "launcher-demo-"+strconv.Itoa(os.Getuid()))
	cfg.pidDir, cfg.logDir = filepath.Join(dir, "run"), filepath.Join(dir, "log")
	for i := range cfg.daemons {
		cfg.daemons[i].PIDDir, cfg.daemons[i].LogDir = cfg.pidDir, cfg.logDir
	}
	return cfg, nil
}

// reread loads the same config again: the same file (its path as found
// the first time, from the same working dir), or the built-in demo.
func (c *config) reread() (*config, error) {
	if c.builtin {
		return builtinConfig()
	}
	return loadConfig(c.file)
}

// checkNames refuses names that the config does not have, with the
// closest names it has.
func (c *config) checkNames(names []string) error {
	all := c.allNames()
	var errs []error
	for _, n := range names {
		if !slices.Contains(all, n) {
			errs = append(errs, fmt.Errorf("no daemon %q in %s%s", n, c.file, didYouMean(n, all, nil)))
		}
	}
	return errors.Join(errs...)
}

// allNames is every daemon of the config, in dependency order.
func (c *config) allNames() []string {
	var names []string
	for _, s := range c.daemons {
		names = append(names, s.Name)
	}
	return names
}

// spec returns the config's spec of the daemon called name.
func (c *config) spec(name string) launcher.Spec {
	for _, s := range c.daemons {
		if s.Name == name {
			return s
		}
	}
	return launcher.Spec{Name: name}
}

// parseConfig reads a config file's text; name is for messages.
func parseConfig(name string, text []byte) (*config, error) {
	// A byte-order mark, as some editors write: not part of the TOML.
	text = bytes.TrimPrefix(text, []byte("\ufeff"))
	p := &configParser{file: name, text: text, lines: indexKeys(text)}
	var doc map[string]any
	if len(p.lines.tables) > sectionsFrom {
		doc = decodeSections(text, p.lines)
	}
	if doc == nil {
		if err := toml.Unmarshal(text, &doc); err != nil {
			return nil, p.tomlError(err)
		}
	}
	top := p.table(nil, doc)
	c := &config{file: name, pidDir: top.str("pid_dir"), logDir: top.str("log_dir")}
	daemons := top.subTable("daemon", "[daemon.NAME]")
	top.unknownKeys()
	var names []string
	if daemons != nil {
		names = slices.Sorted(maps.Keys(daemons.m))
	}
	specs := map[string]launcher.Spec{}
	for _, n := range names {
		t := daemons.subTable(n, "[daemon."+n+"]")
		if t == nil {
			continue // not a table: said so
		}
		if !launcher.ValidName(n) {
			p.fail(t.path, "bad daemon name: want [A-Za-z0-9._-]+, no leading dot")
			continue
		}
		spec := daemonSpec(t)
		for _, a := range spec.After {
			if _, ok := daemons.m[a]; !ok {
				t.fail("after", "unknown daemon %q%s", a, didYouMean(a, names, strconv.Quote))
			}
		}
		spec.PIDDir, spec.LogDir = c.pidDir, c.logDir
		specs[n] = spec
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	order, cycle := topoSort(names, specs)
	if cycle != nil {
		p.fail([]string{"daemon", cycle[0], "after"}, "cycle: %s", strings.Join(cycle, " → "))
		return nil, p.err()
	}
	for _, n := range order {
		c.daemons = append(c.daemons, specs[n])
	}
	return c, nil
}

// sectionsFrom is how many tables make a config decoded one table at a
// time (decodeSections); below it, the whole text at once costs as little.
const sectionsFrom = 32

// daemonSpec reads one [daemon.NAME] table into a Spec; what is wrong is
// recorded in t's parser.
func daemonSpec(t *table) launcher.Spec {
	name := t.path[len(t.path)-1]
	s := launcher.Spec{Name: name,
		Command:         t.strList("command"),
		Dir:             t.str("dir"),
		User:            t.str("user"),
		Group:           t.str("group"),
		StopTimeout:     t.duration("stop_timeout", false),
		StartSecs:       t.duration("start_secs", true),
		NotifyFD:        t.integer("notify_fd", 0, 1023),
		WatchdogSec:     t.duration("watchdog", false),
		RestartDelay:    t.duration("restart_delay", false),
		MaxRestartDelay: t.duration("max_restart_delay", false),
		ResetAfter:      t.duration("reset_after", false),
		MaxRestarts:     t.integer("max_restarts", -1, 1000),
		RestartWindow:   t.duration("restart_window", false),
		After:           t.strList("after"),
		LogMaxBytes:     int64(t.integer("log_max_bytes", 0, math.MaxInt64)),
		LogBackups:      t.integer("log_backups", math.MinInt32, math.MaxInt32),
		InputFIFO:       t.boolean("input_fifo"),
		CgroupBase:      t.str("cgroup_base"),
		MemoryMax:       int64(t.integer("memory_max", 0, math.MaxInt64)),
		CPUMax:          t.number("cpu_max"),
		PidsMax:         int64(t.integer("pids_max", 0, math.MaxInt64)),
	}
	if v, ok := t.m["command"]; !ok {
		t.fail("", "command is missing: say command = [\"program\", \"arg\", ...]")
	} else if list, ok := v.([]any); ok && (len(list) == 0 || list[0] == "") {
		t.fail("command", "want the program and its arguments, like [\"program\", \"arg\", ...]")
	}
	env := t.strMap("env")
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if k == "" || strings.Contains(k, "=") {
			t.fail("env", "bad variable name %q", k)
		}
		s.Env = append(s.Env, k+"="+env[k])
	}
	if umask := t.str("umask"); umask != "" {
		v, err := strconv.ParseUint(umask, 8, 32)
		if err != nil || v > 0o777 {
			t.fail("umask", "%q is not an octal umask like \"022\"", umask)
		}
		s.Umask = os.FileMode(v)
	}
	if sig := t.str("stop_signal"); sig != "" {
		var err error
		if s.StopSignal, err = parseSignal(sig); err != nil {
			t.fail("stop_signal", "%v", err)
		}
	}
	s.KillMode = choose(t, "kill_mode", map[string]launcher.KillMode{
		"": launcher.KillGroup, "group": launcher.KillGroup, "process": launcher.KillProcess, "cgroup": launcher.KillCgroup})
	if (s.MemoryMax != 0 || s.CPUMax != 0 || s.PidsMax != 0) && s.KillMode != launcher.KillCgroup {
		t.fail("kill_mode", `memory_max, cpu_max and pids_max need kill_mode = "cgroup"`)
	}
	s.Ready = choose(t, "ready", map[string]launcher.ReadyMode{
		"": launcher.ReadyStartSecs, "start-secs": launcher.ReadyStartSecs, "notify": launcher.ReadyNotify, "fd": launcher.ReadyFD})
	s.Restart = choose(t, "restart", map[string]launcher.RestartPolicy{
		"": launcher.RestartNever, "never": launcher.RestartNever, "on-failure": launcher.RestartOnFailure, "always": launcher.RestartAlways})
	if s.WatchdogSec != 0 && s.Ready != launcher.ReadyNotify {
		t.fail("watchdog", `needs ready = "notify"`)
	}
	if slices.Contains(s.After, name) {
		t.fail("after", "names the daemon itself")
	}
	if s.NotifyFD != 0 && s.NotifyFD < 4 {
		t.fail("notify_fd", "%d: want 4 to 1023 (0 to 3 are stdin, stdout, stderr and the lock)", s.NotifyFD)
	}
	// Checked now, with the file and line, not at each start.
	if s.User != "" {
		if _, err := userdb.System.LookupUser(s.User); err != nil {
			t.fail("user", "no user %q on this machine%s", s.User, unlessUnknown(err))
		}
	}
	if s.Group != "" {
		if _, err := userdb.System.LookupGroup(s.Group); err != nil {
			t.fail("group", "no group %q on this machine%s", s.Group, unlessUnknown(err))
		}
	}
	t.unknownKeys()
	return s
}

// unlessUnknown is what a lookup's error says beyond "no such user":
// "" when that is all, else ": " and the error (a getent that failed).
func unlessUnknown(err error) string {
	if errors.Is(err, userdb.ErrUnknown) && !errors.Is(err, userdb.ErrGetent) {
		return ""
	}
	return ": " + err.Error()
}

// parseSignal reads a signal by name, with or without SIG, in any case
// ("term", "SIGHUP"), or by number ("15").
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("signal %d out of range (1 to 64)", n)
		}
		return syscall.Signal(n), nil
	}
	if sig := unix.SignalNum("SIG" + strings.TrimPrefix(strings.ToUpper(s), "SIG")); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q (say TERM, HUP, INT, USR1, or a number)", s)
}

func choose[T any](t *table, key string, options map[string]T) T {
	v := t.str(key)
	if got, ok := options[v]; ok {
		return got
	}
	var words []string
	for k := range options {
		if k != "" {
			words = append(words, strconv.Quote(k))
		}
	}
	slices.Sort(words)
	t.fail(key, "%q is not one of %s", v, strings.Join(words, ", "))
	var zero T
	return zero
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
