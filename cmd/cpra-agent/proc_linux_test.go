package main

import "syscall"

// sysProcAttr makes the kernel kill the agent if the test binary dies
// before its cleanup runs (a test timeout, for example).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
