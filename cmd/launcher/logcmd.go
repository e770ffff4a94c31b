// logcmd.go: `launcher log`: the last lines of logs, and -f to follow them.

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/proclauncher/launcher"
)

// log prints the last -n lines of the named daemons' logs (all without
// names), and with -f follows them until interrupted. Lines of more than
// one daemon, or of all of them, start with the daemon's name.
func (c *cli) log(names []string) error {
	if err := c.checkNames(names); err != nil {
		return err
	}
	prefixed := len(names) != 1
	if len(names) == 0 {
		names = c.cfg.allNames()
	}
	// A Manager of these daemons only, for their logs: After is no
	// matter here, and would make it add others.
	m := launcher.NewManager(launcher.Options{PIDDir: c.cfg.pidDir, LogDir: c.cfg.logDir, NoSupervise: true})
	defer m.Close()
	var errs []error
	width := 0
	for _, n := range names {
		spec := c.cfg.spec(n)
		spec.After = nil
		if err := m.Add(spec); err != nil {
			errs = append(errs, err)
			continue
		}
		width = max(width, len(n))
	}
	prefix := func(name string) string {
		if !prefixed {
			return ""
		}
		return fmt.Sprintf("%-*s | ", width, name)
	}
	if !c.opts.follow {
		for _, d := range m.Daemons() {
			lines, err := lastLines(d.LogFile(), c.opts.lines)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, l := range lines {
				fmt.Fprintf(c.stdout, "%s%s\n", prefix(d.Name()), l)
			}
		}
		return errors.Join(errs...)
	}
	for _, err := range errs {
		fmt.Fprintln(c.stderr, err) // and follow the others
	}
	if len(m.Daemons()) == 0 {
		return errors.New("log: no log to follow")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := m.Follow(ctx, launcher.LastLines(c.opts.lines))
	if err != nil {
		return err
	}
	defer f.Close()
	for l := range f.Lines() {
		switch {
		case l.Notice:
			fmt.Fprintf(c.stderr, "launcher: %s: %s\n", l.Daemon, l.Text)
		case l.Partial && !prefixed:
			fmt.Fprint(c.stdout, l.Text) // the rest of the line comes next
		default:
			fmt.Fprintf(c.stdout, "%s%s\n", prefix(l.Daemon), l.Text)
		}
	}
	return nil // interrupted
}

// lastLinesLimit is how far back from the end lastLines reads at most.
const lastLinesLimit = 4 << 20

// lastLines returns the last n lines of the file at path, without their
// newlines (the last line may lack one); none for a missing file. It
// reads back from the end, lastLinesLimit bytes at most.
func lastLines(path string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	var buf []byte
	off := st.Size()
	for off > 0 && len(buf) < lastLinesLimit {
		k := min(64<<10, off)
		off -= k
		chunk := make([]byte, k)
		if _, err := f.ReadAt(chunk, off); err != nil {
			return nil, err
		}
		buf = append(chunk, buf...)
		if bytes.Count(bytes.TrimSuffix(buf, []byte("\n")), []byte("\n")) >= n {
			break // n newlines before the last line: n whole lines
		}
	}
	buf = bytes.TrimSuffix(buf, []byte("\n"))
	if len(buf) == 0 {
		return nil, nil
	}
	lines := strings.Split(string(buf), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}
