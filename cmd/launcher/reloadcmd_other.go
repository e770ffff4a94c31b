//go:build !linux

// reloadcmd_other.go: reload is Linux only.

package main

import "time"

func signalUps(dir string, targets []upRecord, timeout time.Duration) []upAnswer {
	answers := make([]upAnswer, len(targets))
	for i := range answers {
		answers[i].err = errNotLinux
	}
	return answers
}
