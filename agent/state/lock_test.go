package state

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A held directory is refused to a second holder, with the holder's process
// ID; released, it can be taken again. Taking it clears the temporary files
// of a write that was killed.
func TestLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, FileName+".tmp-123")
	if err := os.WriteFile(stale, []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	first, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a killed write's temporary file is still there: %v", err)
	}
	_, err = Lock(dir)
	var inUse *InUseError
	if !errors.As(err, &inUse) || inUse.PID != os.Getpid() || !strings.Contains(err.Error(), dir) ||
		!strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("a second lock of a held directory: %v; want an InUseError naming %s and this process", err, dir)
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	again, err := Lock(dir)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	again.Release()
}

// A named pipe where the state file or the lock should be is refused at
// once: opening it for reading would wait for a writer for ever.
func TestNamedPipesDoNotBlock(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, FileName), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Read(dir, Shard{Count: 1})
	var aside *SetAsideError
	if f != nil || !errors.As(err, &aside) || !strings.Contains(err.Error(), "not a regular file but a named pipe") {
		t.Fatalf("state.json a named pipe: %v, %v; want it set aside as not a regular file", f, err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the pipe was not moved aside: %v", err)
	}

	locked := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(locked, LockName), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(locked); err == nil || !strings.Contains(err.Error(), "not a regular file but a named pipe") {
		t.Fatalf("lock a named pipe: %v; want it refused", err)
	}
}
