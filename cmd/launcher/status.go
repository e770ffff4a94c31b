package main

import (
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
	m, bad := c.manager(false, names)
	defer m.Close()
	// One round lets each daemon notice an exit that happened while
	// nobody watched; this Manager starts nothing.
	m.Poll(time.Now())
	var rows []launcher.Status
	allRunning := true
	for _, st := range m.Status() {
		if len(names) > 0 && !contains(names, st.Name) {
			continue
		}
		rows = append(rows, st)
		allRunning = allRunning && st.State == launcher.Running
	}
	// A daemon whose files could not be read has a row that says why.
	for _, s := range c.cfg.daemons {
		if err := bad[s.Name]; err != nil && (len(names) == 0 || contains(names, s.Name)) {
			rows = append(rows, launcher.Status{Name: s.Name, Problem: err.Error()})
			allRunning = false
		}
	}
	slices.SortFunc(rows, func(a, b launcher.Status) int { return strings.Compare(a.Name, b.Name) })
	if c.flags.json {
		out := make([]statusJSON, 0, len(rows))
		for _, st := range rows {
			out = append(out, toJSON(st))
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(c.stdout, string(b))
	} else {
		tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATE\tPID\tUPTIME\tRESTARTS\tLAST EXIT\tENABLED")
		for _, st := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", st.Name, c.stateCell(st), pidCell(st.PID),
				uptimeCell(st), st.Restarts, exitCell(st.LastExit), yesNo(st.Enabled))
		}
		tw.Flush()
		for _, st := range rows {
			if st.Problem != "" {
				fmt.Fprintf(c.stdout, "%s: %s\n", st.Name, st.Problem)
			}
		}
	}
	if !allRunning {
		return &exitError{code: 3}
	}
	return nil
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

func (c *cli) stateCell(st launcher.Status) string {
	s := st.State.String()
	if st.GaveUp {
		s += " (gave up)"
	}
	switch st.State {
	case launcher.Running:
		return colour(c.stdout, "32", s)
	case launcher.Stopped:
		if st.WantUp {
			return colour(c.stdout, "31", s)
		}
		return s
	default:
		return colour(c.stdout, "33", s)
	}
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
