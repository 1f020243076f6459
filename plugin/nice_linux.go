package plugin

import "syscall"

// threadNice sets the nice value of the calling thread (on Linux, nice is
// per thread); failure leaves it as it was: priority is an optimisation.
func threadNice(n int) { syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), n) }
