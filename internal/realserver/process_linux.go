package realserver

import "syscall"

// sysProcAttr makes the kernel kill the child when the test binary dies
// (a timeout panic skips t.Cleanup), so no server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
