package main

import "unsafe"

// unsafePointer passes a buffer's address to a raw ioctl.
func unsafePointer(p *[8]byte) unsafe.Pointer { return unsafe.Pointer(p) }
