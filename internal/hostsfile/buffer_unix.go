//go:build unix

package hostsfile

import (
	"os"
	"syscall"
)

// mapPages maps n bytes, rounded up to whole pages, of private anonymous
// memory: zero pages the kernel hands out as they are first touched.
func mapPages(n int) ([]byte, error) {
	page := os.Getpagesize()
	n = (n + page - 1) / page * page
	return syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
}

// unmapPages releases what mapPages returned; mem must be that slice, whole.
func unmapPages(mem []byte) error { return syscall.Munmap(mem) }
