//go:build !linux

package main

func becomeSubreaper() error { return errNotLinux }
