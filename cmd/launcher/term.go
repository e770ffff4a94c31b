// term.go: whether output is a terminal, and colours only there.

package main

// The one place that decides whether output goes to a terminal and whether
// it gets colour.

import (
	"io"
	"os"

	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal: a file on which the
// terminal ioctl (TCGETS) works. A character device is not enough:
// /dev/null is one.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// colourOn reports whether output to a terminal (tty) gets colour: not
// when NO_COLOR is set to anything but "" (https://no-color.org), nor for
// TERM=dumb, which understands no escape codes.
func colourOn(tty bool, getenv func(string) string) bool {
	return tty && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb"
}

// canRewrite reports whether a progress line may be drawn on w and erased
// with escape codes: a terminal that understands them. NO_COLOR does not
// matter; it is about colour.
func canRewrite(w io.Writer) bool {
	return isTerminal(w) && os.Getenv("TERM") != "dumb"
}

// ANSI SGR codes.
const (
	red    = "31"
	green  = "32"
	yellow = "33"
)

// painter colours text, or leaves it as it is. Colour goes on a cell after
// alignment: escape codes have no width on a terminal, but tabwriter counts
// them.
type painter bool

// newPainter returns the painter for output to w.
func newPainter(w io.Writer) painter {
	return painter(colourOn(isTerminal(w), os.Getenv))
}

// paint wraps s in colour code ("": none), when p is on.
func (p painter) paint(code, s string) string {
	if !p || s == "" || code == "" {
		return s
	}
	return "\033[" + code + "m" + s + "\033[0m"
}
