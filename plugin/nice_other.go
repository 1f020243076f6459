//go:build !linux

package plugin

// threadNice does nothing where nice is not per thread.
func threadNice(int) {}
