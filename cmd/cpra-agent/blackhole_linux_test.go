package main

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// blackhole is a TCP port that answers no connect: a listener with a
// backlog of zero whose accept queue is kept full, so the kernel drops
// every further SYN and a dial times out, as against a host that is down.
type blackhole struct {
	addr string
	l    net.Listener
}

func newBlackhole(t *testing.T, ip string) *blackhole {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var a [4]byte
	copy(a[:], net.ParseIP(ip).To4())
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: a}); err != nil {
		syscall.Close(fd)
		t.Skipf("bind %s: %v", ip, err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		syscall.Close(fd)
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "blackhole")
	l, err := net.FileListener(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	h := &blackhole{addr: l.Addr().String(), l: l}
	// Fill the accept queue; once a dial times out, it is full.
	for range 8 {
		c, err := net.DialTimeout("tcp", h.addr, 200*time.Millisecond)
		if err != nil {
			return h
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("cannot fill a listener's accept queue on this kernel")
	return nil
}

// serve starts accepting, so connects are answered again.
func (h *blackhole) serve() { go acceptAndClose(h.l) }
