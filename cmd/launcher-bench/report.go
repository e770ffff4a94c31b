//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

// figure is one measured figure beside its floor: a row of the table, a
// member of -json's figures.
type figure struct {
	key      string
	What     string   `json:"what"`
	Unit     string   `json:"unit"` // ms, µs, MiB, B, count
	Launcher float64  `json:"launcher"`
	Floor    *float64 `json:"floor,omitempty"`
	FloorIs  string   `json:"floor_is,omitempty"`
	Ratio    *float64 `json:"ratio,omitempty"` // launcher / floor
	Diff     *float64 `json:"diff,omitempty"`  // launcher − floor, in Unit
	Target   string   `json:"target,omitempty"`
	Met      *bool    `json:"met,omitempty"`
	Samples  int      `json:"samples,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// figures turns what was measured into figures, in the table's order.
func (b *bench) figures() []figure {
	var out []figure
	// add a figure with a floor; met is called with launcher, floor and
	// ratio when there is a target.
	add := func(key, what, unit string, l, f float64, floorIs, target string, samples int, met func(l, f, r float64) bool) {
		fg := figure{key: key, What: what, Unit: unit, Launcher: l, FloorIs: floorIs, Target: target, Samples: samples}
		if floorIs != "" {
			fg.Floor, fg.Diff = ptr(f), ptr(l-f)
			if f != 0 {
				fg.Ratio = ptr(l / f)
			}
		}
		if met != nil {
			r := 0.0
			if fg.Ratio != nil {
				r = *fg.Ratio
			}
			fg.Met = ptr(met(l, f, r))
		}
		out = append(out, fg)
	}
	ratioAtMost := func(x float64) func(l, f, r float64) bool {
		return func(l, f, r float64) bool { return r <= x }
	}

	kernel := b.conn != nil
	exitWhat := "kernel exit → event received"
	if !kernel {
		exitWhat = "kill -9 → exit event received"
	}
	for _, p := range []int{50, 90} {
		add(fmt.Sprintf("kill_exec_p%d", p), fmt.Sprintf("kill -9 → replacement exec'd, p%d", p), "ms",
			ms(pct(b.kill.l, p)), ms(pct(b.kill.f, p)), "pidfd readable, waitid, spawn", "≤ 1.3× floor", len(b.kill.l), ratioAtMost(1.3))
	}
	for _, p := range []int{50, 90} {
		add(fmt.Sprintf("exit_event_p%d", p), fmt.Sprintf("%s, p%d", exitWhat, p), "ms",
			ms(pct(b.exit.l, p)), ms(pct(b.exit.f, p)), "pidfd wake + waitid", "≤ floor + 0.1 ms", len(b.exit.l),
			func(l, f, r float64) bool { return l-f <= 0.1 })
	}
	for _, p := range []int{50, 90} {
		add(fmt.Sprintf("exit_event_run_p%d", p), fmt.Sprintf("%s, Poll in another goroutine, p%d", exitWhat, p), "ms",
			ms(pct(b.exitRun.l, p)), ms(pct(b.exitRun.f, p)), "pidfd wake + waitid", "≤ floor + 0.1 ms", len(b.exitRun.l),
			func(l, f, r float64) bool { return l-f <= 0.1 })
	}
	add("kill_exec_run_p50", "kill -9 → replacement exec'd, Poll in another goroutine, p50", "ms",
		ms(pct(b.killRun.l, 50)), ms(pct(b.killRun.f, 50)), "pidfd readable, waitid, spawn", "≤ 1.3× floor", len(b.killRun.l), ratioAtMost(1.3))
	add("start_all", fmt.Sprintf("start %d until all exec'd, median of %d", b.n, len(b.start.l)), "ms",
		ms(pct(b.start.l, 50)), ms(pct(b.start.f, 50)), fmt.Sprintf("%d bare spawns", b.n), "≤ 1.2× floor", len(b.start.l), ratioAtMost(1.2))
	add("start_all_files", fmt.Sprintf("start %d until all exec'd, median of %d", b.n, len(b.startFiles.l)), "ms",
		ms(pct(b.startFiles.l, 50)), ms(pct(b.startFiles.f, 50)), fmt.Sprintf("%d bare spawns + the %d files they create", b.n, 5*b.n), "", len(b.startFiles.l), nil)
	add("stop_lib_p50", "Manager.Stop → exited, p50", "ms",
		ms(pct(b.stop.l, 50)), ms(pct(b.stop.f, 50)), "SIGTERM through a pidfd", "", len(b.stop.l), nil)

	for _, p := range []int{50, 90} {
		add(fmt.Sprintf("cli_stop_p%d", p), fmt.Sprintf("`launcher stop NAME` → exited, p%d", p), "ms",
			ms(pct(b.cliStop, p)), ms(pct(b.helperStop, p)), "static helper: pidfd_send_signal, wait", "", len(b.cliStop), nil)
	}
	add("cli_stop_vs_kill_p50", "`launcher stop NAME` → exited, p50", "ms",
		ms(pct(b.cliStop, 50)), ms(pct(b.killStop, 50)), "`kill -TERM PID` (procps)", "", len(b.killStop), nil)
	if b.dt != nil {
		for _, p := range []int{50, 90} {
			add(fmt.Sprintf("cli_stop_vs_svc_p%d", p), fmt.Sprintf("`launcher stop NAME` → exited, p%d", p), "ms",
				ms(pct(b.cliStop, p)), ms(pct(b.svcStop, p)), "daemontools `svc -d`", "≤ svc -d", len(b.svcStop), ratioAtMost(1))
		}
		add("cli_stop_return_p50", "`launcher stop NAME` returned, p50", "ms",
			ms(pct(b.cliRet, 50)), ms(pct(b.svcRet, 50)), "`svc -d` returned", "", len(b.cliRet), nil)
	} else {
		add("cli_stop_return_p50", "`launcher stop NAME` returned, p50", "ms",
			ms(pct(b.cliRet, 50)), ms(pct(b.helperRet, 50)), "the helper returned", "", len(b.cliRet), nil)
	}
	add("cli_status", fmt.Sprintf("`launcher status` of %d, median of %d", b.n, len(b.cliStatus)), "ms",
		ms(pct(b.cliStatus, 50)), ms(pct(b.helperStatus, 50)), fmt.Sprintf("helper: read %d pid files + /proc/PID/stat", b.n),
		"≤ 1 s at 10 000", len(b.cliStatus), func(l, f, r float64) bool { return l <= 1000 })

	idle := fmt.Sprintf("idle %v, %d daemons: ", b.idle, b.n)
	add("idle_wakeups", idle+"Manager wake-ups", "count", float64(b.wakes), 0, "no Manager", "0", 0,
		func(l, f, r float64) bool { return l == 0 })
	add("idle_csw", idle+"voluntary context switches, all threads", "count", float64(b.csw), float64(b.csw0),
		"this process before any Manager", "≤ floor", 0, func(l, f, r float64) bool { return l <= f })
	add("idle_cpu", idle+"CPU time", "ms", ms(b.cpu), ms(b.cpu0), "this process before any Manager", "≤ floor", 0,
		func(l, f, r float64) bool { return l <= f })

	pssTarget, pssMax := "", 0.0
	switch {
	case b.n <= 100:
		pssTarget, pssMax = "≤ 8 MiB", 8
	case b.n <= 10_000:
		pssTarget, pssMax = "≤ 20 MiB", 20
	}
	var pssMet func(l, f, r float64) bool
	if pssMax > 0 {
		pssMet = func(l, f, r float64) bool { return l <= pssMax }
	}
	add("pss", fmt.Sprintf("controller PSS with %d daemons", b.n), "MiB", mib(b.pssN), mib(b.pss0),
		"the same process before any Manager", pssTarget, 0, pssMet)
	add("pss_freed", fmt.Sprintf("controller PSS with %d daemons, after debug.FreeOSMemory", b.n), "MiB", mib(b.pssFreed), mib(b.pss0),
		"the same process before any Manager", pssTarget, 0, pssMet)
	add("pss_per_daemon", "PSS per daemon (with n − before) / n", "B", float64(b.pssN-b.pss0)/float64(b.n), 0, "", "", 0, nil)
	add("heap_per_daemon", "live heap per daemon (after GC, with n − before) / n", "B", float64(b.heapN-b.heap0)/float64(b.n), 0, "", "", 0, nil)
	add("fds_per_daemon", "open fds per daemon (with n − before) / n", "count", float64(b.fdsN-b.fds0)/float64(b.n), 1,
		"a pidfd per process", "", 0, nil)

	under1ms := func(l, f, r float64) bool { return l <= 1000 }
	mini := "the same on a Manager of 1 daemon"
	for _, p := range []int{50, 99} {
		add(fmt.Sprintf("daemon_status_p%d", p), fmt.Sprintf("m.Daemon(x).Status(), p%d", p), "µs",
			us(pct(b.statusOne.l, p)), us(pct(b.statusOne.f, p)), mini, "≤ 1 ms", len(b.statusOne.l), under1ms)
	}
	for _, p := range []int{50, 99} {
		add(fmt.Sprintf("poll_idle_p%d", p), fmt.Sprintf("Poll with nothing to do, p%d", p), "µs",
			us(pct(b.pollIdle.l, p)), us(pct(b.pollIdle.f, p)), mini, "≤ 1 ms", len(b.pollIdle.l), under1ms)
	}
	add("manager_status_p50", fmt.Sprintf("Manager.Status() of all %d, p50", b.n), "µs",
		us(pct(b.statusAll.l, 50)), us(pct(b.statusAll.f, 50)), mini, "≤ 1 ms", len(b.statusAll.l), under1ms)
	for _, p := range []int{50, 99, 100} {
		what := fmt.Sprintf("m.Daemon(x).Status() while Start of %d runs, p%d", b.n, p)
		if p == 100 {
			what = fmt.Sprintf("m.Daemon(x).Status() while Start of %d runs, max", b.n)
		}
		add(fmt.Sprintf("status_during_start_p%d", p), what, "µs",
			us(pct(b.duringStart, p)), us(pct(b.statusOne.l, p)), "the same with nothing running", "≤ 1 ms", len(b.duringStart), under1ms)
	}
	return out
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// report prints the table, or with -json one object with every figure.
func (b *bench) report() {
	figs := b.figures()
	if b.jsonOut {
		var uts unix.Utsname
		unix.Uname(&uts)
		byKey := map[string]figure{}
		var order []string
		for _, f := range figs {
			byKey[f.key] = f
			order = append(order, f.key)
		}
		out := map[string]any{
			"command": b.cmdline, "n": b.n, "trials": b.trials, "go": runtime.Version(), "cpus": runtime.NumCPU(),
			"kernel": unix.ByteSliceToString(uts.Release[:]), "notes": b.notes, "figures": byKey, "order": order,
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		enc.Encode(out)
		return
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "what\tlauncher\tfloor\tratio\ttarget\tmet\tfloor is\n")
	for _, f := range figs {
		floor, ratio, met := "-", "-", "-"
		if f.Floor != nil {
			floor = value(*f.Floor, f.Unit)
		}
		if f.Ratio != nil {
			ratio = fmt.Sprintf("%.2f×", *f.Ratio)
		}
		if f.Met != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*f.Met]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.What, value(f.Launcher, f.Unit), floor, ratio, f.Target, met, f.FloorIs)
	}
	tw.Flush()
	fmt.Printf("(%s; %d trials; %d CPUs, %s)\n", b.cmdline, b.trials, runtime.NumCPU(), runtime.Version())
	for _, s := range b.notes {
		fmt.Println("- " + s)
	}
}

func value(v float64, unit string) string {
	switch unit {
	case "ms":
		if v < 1 {
			return fmt.Sprintf("%.3f ms", v)
		}
		return fmt.Sprintf("%.2f ms", v)
	case "µs":
		if v >= 1000 {
			return fmt.Sprintf("%.2f ms", v/1000)
		}
		return fmt.Sprintf("%.1f µs", v)
	case "MiB":
		return fmt.Sprintf("%.1f MiB", v)
	case "B":
		return fmt.Sprintf("%.0f B", v)
	}
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
}
