package queue

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing f's dirty pages without
// waiting. Done for every file of a round before the first fsync, it lets
// one journal commit cover the whole batch: on ext4 with delayed
// allocation, blocks are allocated at writeback, so files whose writeback
// only starts inside their own fsync would each need a commit of their own.
// It is only a hint; the fsync that follows is what guarantees durability.
func startWriteback(f *os.File) {
	unix.SyncFileRange(int(f.Fd()), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
}
