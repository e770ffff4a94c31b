// version.go: `launcher version`, from the build info.

package main

import (
	"fmt"
	"runtime/debug"
)

// version prints what versionText says.
func (c *cli) version(args []string) error {
	if len(args) > 0 {
		return &usageError{cmd: c.cmd, msg: "takes no operands"}
	}
	fmt.Fprintln(c.stdout, versionText(debug.ReadBuildInfo()))
	return nil
}

// versionText says which launcher this is: the module version (go install
// of a tagged version), else the VCS revision and time that go build
// stamped from a checkout ("-dirty" when it had changes), else that
// neither is known.
func versionText(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return unknownVersion
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return "launcher " + v
	}
	var rev, when string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return unknownVersion
	}
	if modified {
		rev += "-dirty"
	}
	if when != "" {
		rev += " (" + when + ")"
	}
	return "launcher " + rev
}

const unknownVersion = "launcher: version unknown (built without module version or VCS stamping)"
