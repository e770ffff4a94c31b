// text.go gives the package's enumerations and results their text and
// JSON forms: the names their String methods print, for configs and for
// encoding/json, and a JSON shape for Status and Event that a person can
// read (names, not numbers; durations in seconds; absent times left out).

package launcher

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// unmarshalName finds text among names, for the UnmarshalText methods.
func unmarshalName[T ~uint8](what string, names []string, text []byte) (T, error) {
	for i, n := range names {
		if n == string(text) {
			return T(i), nil
		}
	}
	return 0, fmt.Errorf("launcher: unknown %s %q (want one of %s)", what, text, strings.Join(names, ", "))
}

// MarshalText returns the state's name ("running").
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses a state's name.
func (s *State) UnmarshalText(b []byte) (err error) {
	*s, err = unmarshalName[State]("state", stateNames[:], b)
	return err
}

// MarshalText returns the reason's name ("start-failed").
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText parses a reason's name.
func (r *Reason) UnmarshalText(b []byte) (err error) {
	*r, err = unmarshalName[Reason]("reason", reasonNames[:], b)
	return err
}

var killModeNames = []string{"group", "process", "cgroup"}

// String returns "group", "process" or "cgroup".
func (k KillMode) String() string {
	if int(k) < len(killModeNames) {
		return killModeNames[k]
	}
	return "kill-mode(" + strconv.Itoa(int(k)) + ")"
}

// MarshalText returns the kill mode's name, as configs write it.
func (k KillMode) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText parses "group", "process" or "cgroup".
func (k *KillMode) UnmarshalText(b []byte) (err error) {
	*k, err = unmarshalName[KillMode]("kill mode", killModeNames, b)
	return err
}

var restartNames = []string{"never", "on-failure", "always"}

// String returns "never", "on-failure" or "always".
func (p RestartPolicy) String() string {
	if int(p) < len(restartNames) {
		return restartNames[p]
	}
	return "restart(" + strconv.Itoa(int(p)) + ")"
}

// MarshalText returns the policy's name, as configs write it.
func (p RestartPolicy) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText parses "never", "on-failure" or "always".
func (p *RestartPolicy) UnmarshalText(b []byte) (err error) {
	*p, err = unmarshalName[RestartPolicy]("restart policy", restartNames, b)
	return err
}

var readyNames = []string{"start-secs", "notify", "fd"}

// String returns "start-secs", "notify" or "fd".
func (m ReadyMode) String() string {
	if int(m) < len(readyNames) {
		return readyNames[m]
	}
	return "ready(" + strconv.Itoa(int(m)) + ")"
}

// MarshalText returns the ready mode's name, as configs write it.
func (m ReadyMode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses "start-secs", "notify" or "fd".
func (m *ReadyMode) UnmarshalText(b []byte) (err error) {
	*m, err = unmarshalName[ReadyMode]("ready mode", readyNames, b)
	return err
}

// MarshalText returns the status as String says it: "exit status 1",
// "signal: killed", "signal: segmentation fault (core dumped)".
func (e ExitStatus) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText parses what MarshalText makes.
func (e *ExitStatus) UnmarshalText(b []byte) error {
	s := string(b)
	if n, ok := strings.CutPrefix(s, "exit status "); ok {
		code, err := strconv.Atoi(n)
		if err != nil {
			return fmt.Errorf("launcher: bad exit status %q", s)
		}
		*e = ExitStatus{Code: code}
		return nil
	}
	name, ok := strings.CutPrefix(s, "signal: ")
	if !ok {
		return fmt.Errorf("launcher: bad exit status %q", s)
	}
	name, core := strings.CutSuffix(name, " (core dumped)")
	for sig := syscall.Signal(1); sig <= 64; sig++ {
		if sig.String() == name {
			*e = ExitStatus{Code: -1, Signal: sig, CoreDumped: core}
			return nil
		}
	}
	if sig := unix.SignalNum(name); sig != 0 {
		*e = ExitStatus{Code: -1, Signal: sig, CoreDumped: core}
		return nil
	}
	return fmt.Errorf("launcher: bad exit status %q", s)
}

// statusJSON is Status as JSON shows it.
type statusJSON struct {
	Name        string      `json:"name"`
	State       State       `json:"state"`
	Reason      Reason      `json:"reason"`
	Seq         uint64      `json:"seq"`
	PID         int         `json:"pid"`
	Since       time.Time   `json:"since,omitzero"`
	UptimeSecs  float64     `json:"uptime_seconds"`
	LastExit    *ExitStatus `json:"last_exit,omitempty"`
	Enabled     bool        `json:"enabled"`
	Wanted      string      `json:"wanted"`
	StatusText  string      `json:"status_text,omitempty"`
	CPUSecs     float64     `json:"cpu_seconds"`
	RSSBytes    int64       `json:"rss_bytes"`
	TreeCPUSecs *float64    `json:"tree_cpu_seconds,omitempty"`
	TreeMemory  *int64      `json:"tree_memory_bytes,omitempty"`
	TreeProcs   *int64      `json:"tree_processes,omitempty"`
	Outdated    bool        `json:"outdated,omitempty"`
	Problem     string      `json:"problem,omitempty"`
	Supervisor  int         `json:"supervisor,omitempty"`
	Restarts    int         `json:"restarts"`
	GaveUp      bool        `json:"gave_up"`
	NextRestart time.Time   `json:"next_restart,omitzero"`
}

// MarshalJSON writes the snapshot with names for states and reasons,
// durations in seconds, the exit status as text, and no absent times.
func (st Status) MarshalJSON() ([]byte, error) {
	wanted := "down"
	if st.WantUp {
		wanted = "up"
	}
	j := statusJSON{Name: st.Name, State: st.State, Reason: st.Reason, Seq: st.Seq,
		PID: st.PID, Since: st.Since, UptimeSecs: st.Uptime.Seconds(), LastExit: st.LastExit,
		Enabled: st.Enabled, Wanted: wanted, StatusText: st.StatusText, CPUSecs: st.CPUTime.Seconds(),
		RSSBytes: st.RSS, Problem: st.Problem, Supervisor: st.Supervisor, Restarts: st.Restarts,
		GaveUp: st.GaveUp, NextRestart: st.NextRestart, Outdated: st.Outdated}
	if st.TreeCPU >= 0 { // unknown (-1) is left out, never shown as 0
		secs := st.TreeCPU.Seconds()
		j.TreeCPUSecs = &secs
	}
	if st.TreeMemory >= 0 {
		j.TreeMemory = &st.TreeMemory
	}
	if st.TreeProcs >= 0 {
		j.TreeProcs = &st.TreeProcs
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (st *Status) UnmarshalJSON(b []byte) error {
	var j statusJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*st = Status{Name: j.Name, State: j.State, Reason: j.Reason, Seq: j.Seq, PID: j.PID, Since: j.Since,
		Uptime: time.Duration(j.UptimeSecs * float64(time.Second)), LastExit: j.LastExit, Enabled: j.Enabled,
		StatusText: j.StatusText, CPUTime: time.Duration(j.CPUSecs * float64(time.Second)), RSS: j.RSSBytes,
		Problem: j.Problem, WantUp: j.Wanted == "up", Supervisor: j.Supervisor, Restarts: j.Restarts,
		GaveUp: j.GaveUp, NextRestart: j.NextRestart, TreeCPU: -1, TreeMemory: -1, TreeProcs: -1,
		Outdated: j.Outdated}
	if j.TreeCPUSecs != nil {
		st.TreeCPU = time.Duration(*j.TreeCPUSecs * float64(time.Second))
	}
	if j.TreeMemory != nil {
		st.TreeMemory = *j.TreeMemory
	}
	if j.TreeProcs != nil {
		st.TreeProcs = *j.TreeProcs
	}
	return nil
}

// eventJSON is Event as JSON shows it.
type eventJSON struct {
	Seq    uint64      `json:"seq"`
	Time   time.Time   `json:"time"`
	Daemon string      `json:"daemon"`
	From   State       `json:"from"`
	To     State       `json:"to"`
	Reason Reason      `json:"reason"`
	PID    int         `json:"pid,omitempty"`
	Exit   *ExitStatus `json:"exit,omitempty"`
	Err    string      `json:"error,omitempty"`
}

// MarshalJSON writes the event with names for states and reasons, the exit
// status as text and the error as its message.
func (e Event) MarshalJSON() ([]byte, error) {
	j := eventJSON{Seq: e.Seq, Time: e.Time, Daemon: e.Daemon, From: e.From, To: e.To, Reason: e.Reason,
		PID: e.PID, Exit: e.Exit}
	if e.Err != nil {
		j.Err = e.Err.Error()
	}
	return json.Marshal(j)
}
