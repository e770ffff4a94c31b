// configtable.go: typed reads of the config's TOML tables, each problem
// collected with its file:line and dotted key.

package main

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// configParser collects what is wrong with a config file, each problem
// with its line and key.
type configParser struct {
	file  string
	text  []byte
	lines *keyLines
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
		if m := bareKeyRE().FindStringSubmatch(lineOf(p.text, row)); m != nil && len(de.Key()) == 0 {
			key = append(key, m[1])
		}
	}
	p.errs = append(p.errs, configError{line: row, key: strings.Join(key, "."), msg: strings.TrimPrefix(de.Error(), "toml: ")})
	return p.err()
}

var bareKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*([A-Za-z0-9_-]+)\s*=`) })

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
	p     *configParser
	path  []string
	m     map[string]any
	asked []string // every key read, there or not: what an unknown key is compared with
	found int      // keys of m read, each once
	// seen is the keys of m read, for a table of many keys (daemon, whose
	// keys are the daemons' names), where a search of asked would make
	// the load quadratic.
	seen map[string]bool
}

// manyKeys is how many keys make a table keep a set of the keys read.
const manyKeys = 32

func (p *configParser) table(path []string, m map[string]any) *table {
	return &table{p: p, path: path, m: m}
}

// fail records a problem with key ("": the table itself).
func (t *table) fail(key, format string, args ...any) {
	path := slices.Clone(t.path)
	if key != "" {
		path = append(path, key)
	}
	t.p.fail(path, format, args...)
}

// get returns the value of key, if it is there, and marks key known. (A
// slice, not a set: a daemon's table is read for some 30 keys and has a
// few, and a map of the keys asked was a tenth of a config's load.)
func (t *table) get(key string) (any, bool) {
	v, ok := t.m[key]
	switch {
	case len(t.m) > manyKeys:
		if t.seen == nil {
			t.seen = make(map[string]bool, len(t.m))
		}
		if ok && !t.seen[key] {
			t.seen[key] = true
			t.found++
		}
	case ok && !slices.Contains(t.asked, key):
		t.found++
	}
	t.asked = append(t.asked, key)
	return v, ok
}

// unknownKeys reports every key that was not read.
func (t *table) unknownKeys() {
	if t.found == len(t.m) {
		return
	}
	known := slices.Compact(slices.Sorted(slices.Values(t.asked)))
	for _, k := range slices.Sorted(maps.Keys(t.m)) { // several on one line: always in the same order
		if _, ok := slices.BinarySearch(known, k); !ok {
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
	for _, k := range slices.Sorted(maps.Keys(m)) { // problems in the same order every time
		x := m[k]
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
// on. Only the table headers are found at once (decodeSections needs
// them); the map of every key is made the first time a problem needs a
// line: it was a quarter of the time a config takes to load, and a config
// that loads without a problem never asks.
type keyLines struct {
	text   []byte
	first  map[string]int // path joined by "\x00" → line; nil until keys
	onLine map[int][]string
	tables []tableLine // headers, in order
	starts []int       // the byte offset of each line's start
	whole  bool        // the parser got to the end of the text
}

type tableLine struct {
	line  int
	path  []string
	array bool // [[path]]
}

// indexKeys finds the table headers with go-toml's parser, as far as the
// text parses.
func indexKeys(text []byte) *keyLines {
	k := &keyLines{text: text}
	// Lines from byte offsets through an index of line starts: the
	// parser's Shape counts from the top of the text at each call, which
	// made a config of 10 000 daemons take seconds to load.
	for off := 0; off <= len(text); {
		k.starts = append(k.starts, off)
		i := bytes.IndexByte(text[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	k.whole = k.walk(false)
	return k
}

// keys makes the map of every key, once.
func (k *keyLines) keys() {
	if k.first == nil {
		k.first, k.onLine, k.tables = map[string]int{}, map[int][]string{}, nil
		k.walk(true)
	}
}

// walk parses the text, noting each table header, and with all every
// key too. It says whether the parser got to the end.
func (k *keyLines) walk(all bool) bool {
	var p unstable.Parser
	p.Reset(k.text)
	var current []string
	lineOf := func(n *unstable.Node) int {
		off := int(n.Raw.Offset)
		line, _ := slices.BinarySearch(k.starts, off+1) // the lines starting at or before off
		return line
	}
	keyOf := func(n *unstable.Node, base []string) ([]string, int) {
		path, line := slices.Clone(base), 0
		for it := n.Key(); it.Next(); {
			kn := it.Node()
			if line == 0 {
				line = lineOf(kn)
			}
			path = append(path, string(kn.Data))
			if all {
				k.add(path, line)
			}
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
			k.tables = append(k.tables, tableLine{line, current, n.Kind == unstable.ArrayTable})
			if all {
				k.onLine[line] = current
			}
		case unstable.KeyValue:
			if all {
				keyValue(n, current)
			}
		}
	}
	return p.Error() == nil
}

func (k *keyLines) add(path []string, line int) {
	id := strings.Join(path, "\x00")
	if _, ok := k.first[id]; !ok {
		k.first[id] = line
	}
}

// line returns the line where path is defined, else that of its longest
// prefix that is; 0 when none is.
func (k *keyLines) line(path []string) int {
	k.keys()
	for n := len(path); n > 0; n-- {
		if l, ok := k.first[strings.Join(path[:n], "\x00")]; ok {
			return l
		}
	}
	return 0
}

// keyAt returns the longest key path defined on line, or nil.
func (k *keyLines) keyAt(line int) []string {
	k.keys()
	return slices.Clone(k.onLine[line])
}

// tableBefore returns the path of the last table header at or before
// line (nil: the top level).
func (k *keyLines) tableBefore(line int) []string {
	var path []string
	for _, t := range k.tables {
		if t.line <= line {
			path = t.path
		}
	}
	return slices.Clone(path)
}

// decodeSections decodes a config of many tables one table at a time and
// merges them: go-toml checks each table header against every one before
// it, which made the parse of 10 000 daemons take 0.4 s, every CLI command.
// A table header has a line of its own, so the text splits at the lines
// the index found them on. It gives up (nil) on anything but a plain,
// well-formed config, arrays of tables, a section that does not parse, or
// a key defined twice, and the caller decodes the whole text instead,
// which says what is wrong as it always has.
func decodeSections(text []byte, k *keyLines) map[string]any {
	if !k.whole {
		return nil
	}
	doc := map[string]any{}
	from := 0
	for i := 0; i <= len(k.tables); i++ {
		to := len(text)
		if i < len(k.tables) {
			t := k.tables[i]
			if t.array || t.line < 1 || t.line > len(k.starts) {
				return nil
			}
			to = k.starts[t.line-1]
		}
		if to < from {
			return nil
		}
		// A part that opens a table the parts before made already (the same
		// header twice, a header after dotted keys that made its table, or
		// [daemon] after [daemon.web]) would merge where the whole text
		// fails, or parses differently: decode the whole text then.
		if i > 0 && tableAt(doc, k.tables[i-1].path) {
			return nil
		}
		var part map[string]any
		if err := toml.Unmarshal(text[from:to], &part); err != nil || !mergeTables(doc, part) {
			return nil
		}
		from = to
	}
	return doc
}

// tableAt says whether doc has a table at path.
func tableAt(doc map[string]any, path []string) bool {
	var v any = doc
	for _, key := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[key]; !ok {
			return false
		}
	}
	_, ok := v.(map[string]any)
	return ok
}

// mergeTables merges src into dst: tables merge, and any other key that
// both have is a conflict (false).
func mergeTables(dst, src map[string]any) bool {
	for key, v := range src {
		old, ok := dst[key]
		if !ok {
			dst[key] = v
			continue
		}
		om, ok1 := old.(map[string]any)
		nm, ok2 := v.(map[string]any)
		if !ok1 || !ok2 || !mergeTables(om, nm) {
			return false
		}
	}
	return true
}
