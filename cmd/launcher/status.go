// status.go: `launcher status`: the table, the detail of one daemon, JSON,
// and the exit status LSB scripts expect.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/proclauncher/launcher"
)

// status prints the table, JSON, or for one daemon its details, and says
// by its exit status whether all the named daemons run (0) or not (3), as
// LSB init scripts do.
func (c *cli) status(names []string) error {
	if err := c.checkNames(names); err != nil {
		return err
	}
	m, bad := c.lookManager(names)
	defer m.Close()
	// One round lets each daemon notice an exit that happened while
	// nobody watched; this Manager starts nothing.
	m.Poll(time.Now())
	var rows []launcher.Status
	allRunning := true
	for _, d := range m.Daemons() {
		if len(names) > 0 && !slices.Contains(names, d.Name()) {
			continue
		}
		st := d.Status() // with its usage, which Manager.Status leaves unread
		rows = append(rows, st)
		allRunning = allRunning && st.State == launcher.Running
	}
	// A daemon whose files could not be read has a row that says why.
	for _, s := range c.cfg.daemons {
		if err := bad[s.Name]; err != nil && (len(names) == 0 || slices.Contains(names, s.Name)) {
			rows = append(rows, launcher.Status{Name: s.Name, Problem: err.Error(), TreeCPU: -1, TreeMemory: -1, TreeProcs: -1})
			allRunning = false
		}
	}
	slices.SortFunc(rows, func(a, b launcher.Status) int { return strings.Compare(a.Name, b.Name) })
	switch {
	case c.opts.json:
		b, _ := json.MarshalIndent(rows, "", "  ") // launcher.Status's own JSON
		fmt.Fprintln(c.stdout, string(b))
	case len(names) == 1:
		var logFile string
		if d := daemonOf(m, names[0]); d != nil {
			logFile = d.LogFile()
		}
		c.writeDetail(rows[0], logFile, time.Now())
	default:
		c.writeTable(rows)
	}
	if !allRunning {
		return &exitError{code: 3}
	}
	return nil
}

// writeTable writes one line per daemon, aligned, with the state in
// colour; then the problems, if any.
func (c *cli) writeTable(rows []launcher.Status) {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	// Daemons in cgroups (kill_mode = "cgroup") have their whole tree's
	// CPU time and memory in two more columns.
	tree := slices.ContainsFunc(rows, func(st launcher.Status) bool { return st.TreeCPU >= 0 || st.TreeMemory >= 0 })
	head := "NAME\tSTATE\tPID\tUPTIME\tRESTARTS\tLAST EXIT\tENABLED"
	if tree {
		head += "\tCPU\tMEMORY"
	}
	fmt.Fprintln(tw, head)
	for _, st := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s", st.Name, stateText(st), pidCell(st.PID),
			uptimeCell(st), st.Restarts, exitCell(st.LastExit), yesNo(st.Enabled))
		if tree {
			fmt.Fprintf(tw, "\t%s\t%s", treeCPU(st), treeMemory(st))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	// Colour after alignment: the STATE column starts where its header
	// does on every line, and a name is ASCII, one column a byte.
	lines := strings.SplitAfter(buf.String(), "\n")
	col := strings.Index(lines[0], "STATE")
	fmt.Fprint(c.stdout, lines[0])
	for i, st := range rows {
		line, text := lines[i+1], stateText(st)
		if col+len(text) <= len(line) && line[col:col+len(text)] == text {
			line = line[:col] + c.paint.paint(stateColour(st), text) + line[col+len(text):]
		}
		fmt.Fprint(c.stdout, line)
	}
	for _, st := range rows {
		if st.Problem != "" {
			fmt.Fprintf(c.stdout, "%s: %s\n", st.Name, st.Problem)
		}
	}
}

// writeDetail shows one daemon, systemctl status style, with the end of
// its log (logFile; "" when it cannot be known).
func (c *cli) writeDetail(st launcher.Status, logFile string, now time.Time) {
	head := st.Name + "  " + c.paint.paint(stateColour(st), stateText(st))
	if st.Reason != launcher.ReasonNone {
		head += " (" + st.Reason.String() + ")"
	}
	if !st.Since.IsZero() {
		head += " since " + st.Since.Format("2006-01-02 15:04:05 MST") + "; " + ago(now.Sub(st.Since))
	}
	fmt.Fprintln(c.stdout, head)
	type field struct{ label, value string }
	fields := []field{{"PID", pidCell(st.PID)}}
	if st.State == launcher.Running {
		fields = append(fields, field{"Uptime", st.Uptime.Truncate(time.Second).String()})
	}
	restarts := strconv.Itoa(st.Restarts)
	if st.GaveUp {
		restarts += " (gave up)"
	}
	fields = append(fields, field{"Restarts", restarts})
	if !st.NextRestart.IsZero() {
		fields = append(fields, field{"Next restart", "in " + st.NextRestart.Sub(now).Round(time.Millisecond).String()})
	}
	fields = append(fields, field{"Last exit", exitText(st.LastExit)})
	wanted := "down"
	if st.WantUp {
		wanted = "up"
	}
	fields = append(fields, field{"Wanted", wanted}, field{"Enabled", yesNo(st.Enabled)})
	supervisor := "none"
	if st.Supervisor != 0 {
		supervisor = "pid " + strconv.Itoa(st.Supervisor)
	}
	fields = append(fields, field{"Supervisor", supervisor})
	switch {
	case st.TreeCPU >= 0 || st.TreeMemory >= 0 || st.TreeProcs >= 0: // its cgroup's, all of it
		procs := "unknown"
		if st.TreeProcs >= 0 {
			procs = strconv.FormatInt(st.TreeProcs, 10)
		}
		fields = append(fields, field{"CPU", treeCPU(st) + " (cgroup)"},
			field{"Memory", treeMemory(st) + " (cgroup)"}, field{"Processes", procs})
	case st.PID != 0:
		fields = append(fields, field{"CPU", st.CPUTime.Round(time.Millisecond).String()},
			field{"Memory", bytesText(st.RSS) + " RSS"})
	}
	if st.Outdated {
		fields = append(fields, field{"Outdated", "it runs another command than the config's; restart it to apply the config"})
	}
	if st.StatusText != "" {
		fields = append(fields, field{"Status", st.StatusText})
	}
	if st.Problem != "" {
		fields = append(fields, field{"Problem", c.paint.paint(red, st.Problem)})
	}
	if logFile != "" {
		fields = append(fields, field{"Log", logFile})
	}
	width := 0
	for _, f := range fields {
		width = max(width, len(f.label))
	}
	for _, f := range fields {
		fmt.Fprintf(c.stdout, "  %*s: %s\n", width, f.label, f.value)
	}
	if logFile == "" || c.opts.lines <= 0 {
		return
	}
	lines, err := lastLines(logFile, c.opts.lines)
	if err != nil {
		fmt.Fprintf(c.stdout, "\n%v\n", err)
		return
	}
	if len(lines) > 0 {
		fmt.Fprintln(c.stdout)
	}
	for _, l := range lines {
		fmt.Fprintln(c.stdout, l)
	}
}

// ago says how long ago d was: "5s ago", "3m12s ago".
func ago(d time.Duration) string {
	if d < time.Second {
		return "just now"
	}
	return d.Truncate(time.Second).String() + " ago"
}

// stateText is the state as the table and the details show it.
func stateText(st launcher.Status) string {
	s := st.State.String()
	if st.GaveUp {
		s += " (gave up)"
	}
	if st.Outdated {
		// Its process runs another command than the config's: started
		// from an older config; a restart applies this one.
		s += " (outdated)"
	}
	return s
}

// stateColour is the colour of st's state: green running, red stopped
// though wanted up, yellow on the way.
func stateColour(st launcher.Status) string {
	switch st.State {
	case launcher.Running:
		return green
	case launcher.Stopped:
		if st.WantUp {
			return red
		}
		return ""
	}
	return yellow
}

func pidCell(pid int) string {
	if pid == 0 {
		return "-"
	}
	return strconv.Itoa(pid)
}

func uptimeCell(st launcher.Status) string {
	if st.State != launcher.Running {
		return "-"
	}
	return st.Uptime.Truncate(time.Second).String()
}

func exitCell(e *launcher.ExitStatus) string {
	if e == nil {
		return "-"
	}
	return strings.TrimPrefix(e.String(), "exit ")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// bytesText is n bytes for people: 812 KiB, 1.5 MiB.
func bytesText(n int64) string {
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1<<20:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	case n < 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
}

func exitText(e *launcher.ExitStatus) string {
	if e == nil {
		return "-"
	}
	return e.String()
}

// treeCPU and treeMemory show a cgroup daemon's usage ("-" when unknown:
// no such controller, or no cgroup).
func treeCPU(st launcher.Status) string {
	if st.TreeCPU < 0 {
		return "-"
	}
	return st.TreeCPU.Round(time.Millisecond).String()
}

func treeMemory(st launcher.Status) string {
	if st.TreeMemory < 0 {
		return "-"
	}
	return bytesText(st.TreeMemory)
}
