//go:build !linux

package realserver

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
