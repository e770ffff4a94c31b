// config.go: the TOML config: parsing, every key checked with file:line,
// and the launcher.Spec each daemon becomes.

package main

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
	"github.com/proclauncher/launcher"
	"github.com/proclauncher/launcher/examples"
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
	p := &configParser{file: name, text: text, lines: indexKeys(text)}
	var doc map[string]any
	if err := toml.Unmarshal(text, &doc); err != nil {
		return nil, p.tomlError(err)
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
		NotifyFD:        t.integer("notify_fd", 0, math.MaxInt32),
		WatchdogSec:     t.duration("watchdog", false),
		RestartDelay:    t.duration("restart_delay", false),
		MaxRestartDelay: t.duration("max_restart_delay", false),
		ResetAfter:      t.duration("reset_after", false),
		MaxRestarts:     t.integer("max_restarts", math.MinInt32, math.MaxInt32),
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
	t.unknownKeys()
	return s
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

// configParser collects what is wrong with a config file, each problem
// with its line and key.
type configParser struct {
	file  string
	text  []byte
	lines keyLines
	errs  []configError
}

type configError struct {
	line int
	key  string // dotted; "" when none applies (a syntax error)
	msg  string
}

// fail records a problem with the value at path (a table, or a key in
// one).
func (p *configParser) fail(path []string, format string, args ...any) {
	p.errs = append(p.errs, configError{line: p.lines.line(path), key: strings.Join(path, "."), msg: fmt.Sprintf(format, args...)})
}

// err returns the problems recorded, in the order of their lines, each
// as file:line: key: problem; nil when there are none.
func (p *configParser) err() error {
	slices.SortStableFunc(p.errs, func(a, b configError) int { return a.line - b.line })
	var errs []error
	for _, e := range p.errs {
		where := p.file
		if e.line > 0 {
			where += ":" + strconv.Itoa(e.line)
		}
		if e.key != "" {
			where += ": " + e.key
		}
		errs = append(errs, fmt.Errorf("%w: %s: %s", errConfig, where, e.msg))
	}
	return errors.Join(errs...)
}

// tomlError turns the TOML decoder's error (bad syntax, a key defined
// twice) into file:line: key: problem, without the decoder's "toml: ".
func (p *configParser) tomlError(err error) error {
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		return fmt.Errorf("%w: %s: %s", errConfig, p.file, strings.TrimPrefix(err.Error(), "toml: "))
	}
	row, _ := de.Position()
	// The decoder's key is relative to the table it is in; the index has
	// the whole path of the key on that line, when the line has one.
	key := p.lines.keyAt(row)
	if key == nil {
		key = append(p.lines.tableBefore(row), de.Key()...)
		// A key-value that does not parse is not in the index: its
		// bare key, if the line starts with one.
		if m := bareKeyRE.FindStringSubmatch(lineOf(p.text, row)); m != nil && len(de.Key()) == 0 {
			key = append(key, m[1])
		}
	}
	p.errs = append(p.errs, configError{line: row, key: strings.Join(key, "."), msg: strings.TrimPrefix(de.Error(), "toml: ")})
	return p.err()
}

var bareKeyRE = regexp.MustCompile(`^\s*([A-Za-z0-9_-]+)\s*=`)

// lineOf returns line n (from 1) of text.
func lineOf(text []byte, n int) string {
	lines := strings.Split(string(text), "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return lines[n-1]
}

// table is one TOML table being read key by key; it remembers which keys
// were read, so that the others are reported as unknown.
type table struct {
	p    *configParser
	path []string
	m    map[string]any
	used map[string]bool
}

func (p *configParser) table(path []string, m map[string]any) *table {
	return &table{p: p, path: path, m: m, used: map[string]bool{}}
}

// fail records a problem with key ("": the table itself).
func (t *table) fail(key, format string, args ...any) {
	path := slices.Clone(t.path)
	if key != "" {
		path = append(path, key)
	}
	t.p.fail(path, format, args...)
}

// get returns the value of key, if it is there, and marks key known.
func (t *table) get(key string) (any, bool) {
	t.used[key] = true
	v, ok := t.m[key]
	return v, ok
}

// unknownKeys reports every key that was not read.
func (t *table) unknownKeys() {
	var known []string
	for k := range t.used {
		known = append(known, k)
	}
	for k := range t.m {
		if !t.used[k] {
			t.fail(k, "unknown key%s", didYouMean(k, known, nil))
		}
	}
}

func (t *table) str(key string) string {
	v, ok := t.get(key)
	if !ok {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		t.fail(key, "want a string, not %s", describeValue(v))
	}
	return s
}

func (t *table) strList(key string) []string {
	v, ok := t.get(key)
	if !ok {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		t.fail(key, "want a list of strings, like [\"a\", \"b\"], not %s", describeValue(v))
		return nil
	}
	out := make([]string, 0, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			t.fail(key, "want a list of strings, not %s at [%d]", describeValue(x), i)
			return nil
		}
		out = append(out, s)
	}
	return out
}

func (t *table) strMap(key string) map[string]string {
	v, ok := t.get(key)
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.fail(key, "want a table of strings, like { NAME = \"value\" }, not %s", describeValue(v))
		return nil
	}
	out := map[string]string{}
	for k, x := range m {
		s, ok := x.(string)
		if !ok {
			t.p.fail(append(slices.Clone(t.path), key, k), "want a string, not %s", describeValue(x))
			continue
		}
		out[k] = s
	}
	return out
}

func (t *table) integer(key string, lo, hi int64) int {
	v, ok := t.get(key)
	if !ok {
		return 0
	}
	n, ok := v.(int64)
	if !ok {
		t.fail(key, "want an integer, not %s", describeValue(v))
		return 0
	}
	if n < 0 && lo == 0 {
		t.fail(key, "%d is negative", n)
		return 0
	}
	if n < lo || n > hi || int64(int(n)) != n {
		t.fail(key, "%d is out of range (%d to %d)", n, lo, hi)
		return 0
	}
	return int(n)
}

// number reads a non-negative number, integer or not (cpu_max = 0.5).
func (t *table) number(key string) float64 {
	v, ok := t.get(key)
	if !ok {
		return 0
	}
	var f float64
	switch n := v.(type) {
	case int64:
		f = float64(n)
	case float64:
		f = n
	default:
		t.fail(key, "want a number, not %s", describeValue(v))
		return 0
	}
	if f < 0 {
		t.fail(key, "%v is negative", f)
		return 0
	}
	return f
}

func (t *table) boolean(key string) bool {
	v, ok := t.get(key)
	if !ok {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		t.fail(key, "want true or false, not %s", describeValue(v))
	}
	return b
}

// duration reads "1.5s", "200ms", "2m"; negative ones only when negOK.
func (t *table) duration(key string, negOK bool) time.Duration {
	v, ok := t.get(key)
	if !ok {
		return 0
	}
	s, ok := v.(string)
	if !ok {
		t.fail(key, "want a duration string like \"10s\" (units ms, s, m, h), not %s", describeValue(v))
		return 0
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		t.fail(key, "%q is not a duration (say 1s, 500ms, 2m)", s)
	case d < 0 && !negOK:
		t.fail(key, "%q is negative", s)
	}
	return d
}

// subTable returns the table under key, or nil (recording why when key
// is there but not a table; hint shows how to write one).
func (t *table) subTable(key, hint string) *table {
	v, ok := t.get(key)
	if !ok {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.fail(key, "want a table, like %s, not %s", hint, describeValue(v))
		return nil
	}
	return t.p.table(append(slices.Clone(t.path), key), m)
}

// describeValue names a decoded TOML value for a message.
func describeValue(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", v)
	case int64:
		return fmt.Sprintf("the integer %d", v)
	case float64:
		return fmt.Sprintf("the number %v", v)
	case bool:
		return fmt.Sprintf("%v", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	}
	return "a date or time"
}

// keyLines maps every key path of a TOML document (tables, implicit ones
// of dotted keys, keys of inline tables) to the line it is first defined
// on.
type keyLines struct {
	first  map[string]int // path joined by "\x00" → line
	onLine map[int][]string
	tables []tableLine // headers, in order
}

type tableLine struct {
	line int
	path []string
}

// indexKeys builds the index with go-toml's parser, as far as the text
// parses.
func indexKeys(text []byte) keyLines {
	k := keyLines{first: map[string]int{}, onLine: map[int][]string{}}
	var p unstable.Parser
	p.Reset(text)
	var current []string
	lineOf := func(n *unstable.Node) int { return p.Shape(n.Raw).Start.Line }
	keyOf := func(n *unstable.Node, base []string) ([]string, int) {
		path, line := slices.Clone(base), 0
		for it := n.Key(); it.Next(); {
			kn := it.Node()
			if line == 0 {
				line = lineOf(kn)
			}
			path = append(path, string(kn.Data))
			k.add(path, line)
		}
		return path, line
	}
	var keyValue func(n *unstable.Node, base []string)
	keyValue = func(n *unstable.Node, base []string) {
		path, line := keyOf(n, base)
		if len(k.onLine[line]) == 0 || len(path) > len(k.onLine[line]) {
			k.onLine[line] = path
		}
		if v := n.Value(); v.Kind == unstable.InlineTable {
			for it := v.Children(); it.Next(); {
				keyValue(it.Node(), path)
			}
		}
	}
	for p.NextExpression() {
		n := p.Expression()
		switch n.Kind {
		case unstable.Table, unstable.ArrayTable:
			var line int
			current, line = keyOf(n, nil)
			k.tables = append(k.tables, tableLine{line, current})
			k.onLine[line] = current
		case unstable.KeyValue:
			keyValue(n, current)
		}
	}
	return k
}

func (k keyLines) add(path []string, line int) {
	id := strings.Join(path, "\x00")
	if _, ok := k.first[id]; !ok {
		k.first[id] = line
	}
}

// line returns the line where path is defined, else that of its longest
// prefix that is; 0 when none is.
func (k keyLines) line(path []string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := k.first[strings.Join(path[:n], "\x00")]; ok {
			return l
		}
	}
	return 0
}

// keyAt returns the longest key path defined on line, or nil.
func (k keyLines) keyAt(line int) []string {
	return slices.Clone(k.onLine[line])
}

// tableBefore returns the path of the last table header at or before
// line (nil: the top level).
func (k keyLines) tableBefore(line int) []string {
	var path []string
	for _, t := range k.tables {
		if t.line <= line {
			path = t.path
		}
	}
	return slices.Clone(path)
}
