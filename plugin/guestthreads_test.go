package plugin

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestGuestThreads: guest calls run on threads of nice guestNice, and a
// host adds their Ps to GOMAXPROCS, also after something reset it.
func TestGuestThreads(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("nice is per thread on Linux only")
	}
	var nice int
	var err error
	onGuestThread(context.Background(), func(context.Context) { nice, err = threadNiceValue() })
	if err != nil {
		t.Fatal(err)
	}
	if nice != guestNice {
		t.Errorf("a guest thread runs at nice %d, want %d", nice, guestNice)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(3)
	reserveGuestProcs()
	if got, want := runtime.GOMAXPROCS(0), 3+guestProcs; got != want {
		t.Errorf("GOMAXPROCS %d after reserving, want %d", got, want)
	}
	reserveGuestProcs()
	if got, want := runtime.GOMAXPROCS(0), 3+guestProcs; got != want {
		t.Errorf("GOMAXPROCS %d after reserving twice, want %d", got, want)
	}
}

// threadNiceValue reads the calling thread's nice value from /proc.
func threadNiceValue() (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b, err := os.ReadFile("/proc/thread-self/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command's closing parenthesis; nice is field 19.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	return strconv.Atoi(f[19-3])
}
