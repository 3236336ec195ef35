//go:build !unix

package hostsfile

import "errors"

// Without mmap every buffer is Go heap.

func mapPages(int) ([]byte, error) { return nil, errors.ErrUnsupported }

func unmapPages([]byte) error { return errors.ErrUnsupported }
