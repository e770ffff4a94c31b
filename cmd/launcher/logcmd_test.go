package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLastLines(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var long strings.Builder
	for i := 1; i <= 20000; i++ { // 20000 lines, more than one read back
		fmt.Fprintf(&long, "line %d\n", i)
	}
	for _, tt := range []struct {
		name, text string
		n          int
		want       []string
	}{
		{"three", "a\nb\nc\n", 2, []string{"b", "c"}},
		{"no newline at the end", "a\nb\nc", 2, []string{"b", "c"}},
		{"fewer than n", "a\nb\n", 10, []string{"a", "b"}},
		{"empty", "", 10, nil},
		{"only a newline", "\n", 10, nil},
		{"empty lines", "a\n\n\n", 2, []string{"", ""}},
		{"zero", "a\n", 0, nil},
		{"long", long.String(), 3, []string{"line 19998", "line 19999", "line 20000"}},
	} {
		got, err := lastLines(write(tt.name, tt.text), tt.n)
		if err != nil || fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
			t.Errorf("%s: got %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	if got, err := lastLines(filepath.Join(dir, "missing"), 3); got != nil || err != nil {
		t.Errorf("a missing file: %q, %v", got, err)
	}
	if _, err := lastLines(dir, 3); err == nil {
		t.Error("a directory: no error")
	}
}
