package vault

import (
	"os"
	"syscall"
)

// syncFileRangeWrite is SYNC_FILE_RANGE_WRITE from <linux/fs.h>.
const syncFileRangeWrite = 0x2

// startWriteback asks the kernel to start writing the given range of f to
// disk without waiting for it, so that the fsync at the end of a large
// item has little left to do. It is a hint: errors are ignored (the fsync
// reports real ones).
func startWriteback(f *os.File, off, n int64) {
	syscall.SyncFileRange(int(f.Fd()), off, n, syncFileRangeWrite)
}
