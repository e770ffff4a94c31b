package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionText(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tt := range []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"go install of a tag", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, true, "launcher v1.2.3"},
		{"a pseudo-version", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260101120000-abcdef123456"},
			Settings: settings("vcs.revision", "ffff")}, true, "launcher v0.0.0-20260101120000-abcdef123456"},
		{"a checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "62eca20ca7fb", "vcs.time", "2026-12-03T17:00:00Z", "vcs.modified", "false")},
			true, "launcher 62eca20ca7fb (2026-12-03T17:00:00Z)"},
		{"a checkout with changes", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "62eca20ca7fb", "vcs.time", "2026-12-03T17:00:00Z", "vcs.modified", "true")},
			true, "launcher 62eca20ca7fb-dirty (2026-12-03T17:00:00Z)"},
		{"a revision without time", &debug.BuildInfo{Settings: settings("vcs.revision", "abc")}, true, "launcher abc"},
		{"neither", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: settings("-race", "true")}, true, unknownVersion},
		{"no build info", nil, false, unknownVersion},
	} {
		if got := versionText(tt.bi, tt.ok); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}
