package realserver

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	readyTimeout = 60 * time.Second // generous: the test machine is shared and noisy
	stopTimeout  = 15 * time.Second
	startRetries = 3
)

// lookPath returns the first of names found on PATH, or skips the test with
// missing as the reason.
func lookPath(t testing.TB, missing string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip(missing)
	return ""
}

// start runs bin with args(addr) on a free loopback address, waits until
// GET readyPath answers 200, and stops the process in t.Cleanup. It returns
// the base URL. Because the port is picked before the process binds it,
// another process may take it first; a process that exits before it is
// ready is therefore retried on a new port.
func start(t testing.TB, name, bin string, args func(addr string) []string, readyPath string) string {
	base, _ := startProcess(t, name, bin, args, readyPath)
	return base
}

// startProcess is start, also returning the process, which remembers its
// arguments for a restart on the same address.
func startProcess(t testing.TB, name, bin string, args func(addr string) []string, readyPath string) (string, *process) {
	t.Helper()
	var output string
	for range startRetries {
		addr := freeAddr(t)
		p, err := launch(bin, args(addr))
		if err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		p.args = args(addr)
		base := "http://" + addr
		exited, err := p.waitReady(base + readyPath)
		if err == nil {
			t.Cleanup(func() {
				p.stop()
				if t.Failed() {
					t.Logf("%s output:\n%s", name, p.out.String())
				}
			})
			return base, p
		}
		p.stop()
		output = p.out.String()
		if !exited {
			t.Fatalf("%s on %s: %v; output:\n%s", name, addr, err, output)
		}
	}
	t.Fatalf("%s exited before it was ready %d times; last output:\n%s", name, startRetries, output)
	return "", nil
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// process is a running child with its combined output.
type process struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed once the process has exited
	args []string      // what it was started with
}

// restart stops the process and starts the same program with the same
// arguments (so the same address and data), waiting until url answers.
func (p *process) restart(url string) error {
	p.stop()
	next, err := launch(p.cmd.Path, p.args)
	if err != nil {
		return err
	}
	if _, err := next.waitReady(url); err != nil {
		next.stop()
		return err
	}
	p.cmd, p.done, p.out = next.cmd, next.done, next.out
	return nil
}

func launch(bin string, args []string) (*process, error) {
	p := &process{out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = sysProcAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		err := p.cmd.Wait()
		if err != nil {
			fmt.Fprintf(p.out, "\n[realserver] %s: %v\n", bin, err)
		}
		close(p.done)
	}()
	return p, nil
}

// waitReady polls url until it answers 200. exited reports that the process
// ended first, which a retry on another port may cure.
func (p *process) waitReady(url string) (exited bool, err error) {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-p.done:
			return true, fmt.Errorf("exited before it was ready")
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return false, nil
			}
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("not ready after %v (last: %v)", readyTimeout, describe(resp, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func describe(resp *http.Response, err error) string {
	if err != nil {
		return err.Error()
	}
	return resp.Status
}

// stop asks the process to exit, and kills it if it does not.
func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// syncBuffer is a bytes.Buffer safe for the copying goroutines of exec and
// for readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(s.b.String())
}
