//go:build !linux

// initreap_other.go: no subreaper outside Linux.

package main

func becomeSubreaper() error { return errNotLinux }
