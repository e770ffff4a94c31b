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

// statusJSON is one daemon in `status --json`.
type statusJSON struct {
	Name        string     `json:"name"`
	State       string     `json:"state"`
	Reason      string     `json:"reason"`
	PID         int        `json:"pid"`
	Since       *time.Time `json:"since,omitempty"`
	UptimeSecs  float64    `json:"uptime_seconds"`
	Restarts    int        `json:"restarts"`
	LastExit    string     `json:"last_exit,omitempty"`
	Enabled     bool       `json:"enabled"`
	Wanted      string     `json:"wanted"`
	StatusText  string     `json:"status_text,omitempty"`
	CPUSecs     float64    `json:"cpu_seconds"`
	RSSBytes    int64      `json:"rss_bytes"`
	NextRestart *time.Time `json:"next_restart,omitempty"`
	GaveUp      bool       `json:"gave_up"`
	Supervisor  int        `json:"supervisor,omitempty"`
	Problem     string     `json:"problem,omitempty"`
}

// status prints the table (or JSON) and says, by its exit status, whether
// all the named daemons run (0) or not (3), as LSB init scripts do.
func (c *cli) status(names []string) error {
	if err := c.checkNames(names); err != nil {
		return err
	}
	m, bad := c.manager(false, names)
	defer m.Close()
	// One round lets each daemon notice an exit that happened while
	// nobody watched; this Manager starts nothing.
	m.Poll(time.Now())
	var rows []launcher.Status
	allRunning := true
	for _, st := range m.Status() {
		if len(names) > 0 && !slices.Contains(names, st.Name) {
			continue
		}
		rows = append(rows, st)
		allRunning = allRunning && st.State == launcher.Running
	}
	// A daemon whose files could not be read has a row that says why.
	for _, s := range c.cfg.daemons {
		if err := bad[s.Name]; err != nil && (len(names) == 0 || slices.Contains(names, s.Name)) {
			rows = append(rows, launcher.Status{Name: s.Name, Problem: err.Error()})
			allRunning = false
		}
	}
	slices.SortFunc(rows, func(a, b launcher.Status) int { return strings.Compare(a.Name, b.Name) })
	switch {
	case c.opts.json:
		out := make([]statusJSON, 0, len(rows))
		for _, st := range rows {
			out = append(out, toJSON(st))
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(c.stdout, string(b))
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
	fmt.Fprintln(tw, "NAME\tSTATE\tPID\tUPTIME\tRESTARTS\tLAST EXIT\tENABLED")
	for _, st := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", st.Name, stateText(st), pidCell(st.PID),
			uptimeCell(st), st.Restarts, exitCell(st.LastExit), yesNo(st.Enabled))
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

func toJSON(st launcher.Status) statusJSON {
	j := statusJSON{Name: st.Name, State: st.State.String(), Reason: st.Reason.String(), PID: st.PID,
		UptimeSecs: st.Uptime.Seconds(), Restarts: st.Restarts, Enabled: st.Enabled,
		StatusText: st.StatusText, CPUSecs: st.CPUTime.Seconds(), RSSBytes: st.RSS, Wanted: "down",
		GaveUp: st.GaveUp, Supervisor: st.Supervisor, Problem: st.Problem}
	if st.WantUp {
		j.Wanted = "up"
	}
	if !st.Since.IsZero() {
		j.Since = &st.Since
	}
	if st.LastExit != nil {
		j.LastExit = st.LastExit.String()
	}
	if !st.NextRestart.IsZero() {
		j.NextRestart = &st.NextRestart
	}
	return j
}

// stateText is the state as the table and the details show it.
func stateText(st launcher.Status) string {
	s := st.State.String()
	if st.GaveUp {
		s += " (gave up)"
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
