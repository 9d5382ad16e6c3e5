package main

import (
	"syscall"
	"unsafe"
)

// ioctl issues a raw ioctl whose argument is buf's address.
func ioctl(fd uintptr, cmd uintptr, buf []byte) syscall.Errno {
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, cmd, uintptr(unsafe.Pointer(&buf[0])))
	return errno
}
