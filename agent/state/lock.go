package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// LockName is the lock file in the state directory. It holds the process
// ID of the agent that has the directory.
const LockName = "lock"

// Dir is a state directory held by this process: no other agent can take
// it until Release (or this process's end: the kernel drops the lock).
type Dir struct {
	Path string
	lock *os.File
}

// InUseError says another process holds the state directory.
type InUseError struct {
	Path string
	PID  int // 0 when the lock file does not say
}

func (e *InUseError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("state directory %s is in use by %s (lock %s): every agent needs its own --storage.path",
		e.Path, who, filepath.Join(e.Path, LockName))
}

// Lock takes dir for this process with an exclusive, non-blocking lock
// (flock) on dir/lock, creating dir if needed, and removes the temporary
// files an agent killed in the middle of Write left behind: while the lock
// is held, nobody else writes there. A directory another process holds is
// an *InUseError.
func Lock(dir string) (*Dir, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(dir, LockName)
	// O_NONBLOCK: a named pipe put there must not hang the start.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NONBLOCK, 0o640)
	if err != nil {
		return nil, fmt.Errorf("state directory lock: %w", err)
	}
	if err := regular(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("state directory lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			buf := make([]byte, 32)
			n, _ := f.ReadAt(buf, 0)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
			return nil, &InUseError{Path: dir, PID: pid}
		}
		return nil, fmt.Errorf("state directory lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	stale, _ := filepath.Glob(filepath.Join(dir, FileName+".tmp-*"))
	for _, p := range stale {
		_ = os.Remove(p)
	}
	return &Dir{Path: dir, lock: f}, nil
}

// Release gives the directory up.
func (d *Dir) Release() error {
	if d == nil || d.lock == nil {
		return nil
	}
	err := d.lock.Close() // closing the last descriptor drops the flock
	d.lock = nil
	return err
}

// regular refuses anything but a regular file: reading a named pipe or a
// device would block or never end.
func regular(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file but %s", fileKind(fi.Mode()))
	}
	return nil
}

func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "a " + m.Type().String()
}
