//go:build !linux

package queue

import "os"

// startWriteback is a hint on Linux (see commit_linux.go); elsewhere the
// fsyncs alone do the work.
func startWriteback(*os.File) {}
