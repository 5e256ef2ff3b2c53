package scalebench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// ConnFloorConfig is one measurement of what a request on a new
// connection costs the client process, against nginx closing every
// connection, with three clients from the most to the least machinery.
type ConnFloorConfig struct {
	Dir      string        // nginx's work directory
	Port     int           // nginx's port on 127.0.0.1…127.0.0.16
	Rate     int           // requests per second
	Workers  int           // goroutines sending them
	Duration time.Duration // per client
	Out      io.Writer
}

// ConnFloorResult is one client's cost.
type ConnFloorResult struct {
	Client    string
	Requests  int64
	Failures  int64
	PerSecond float64
	CPUPerReq float64 // client process CPU milliseconds per request
}

// The clients ConnFloor measures, in order.
const (
	FloorNetHTTP = "net/http, the http check's transport settings"
	FloorDialer  = "net.Dialer: one write, read to the end, close"
	FloorSyscall = "blocking system calls: socket, connect, write, read, close"
)

// ConnFloor measures the CPU this process spends per request on a new
// connection with each client in turn. The last, which does nothing but
// the five system calls, is the floor no HTTP client can go below on
// this machine: on loopback the kernel runs both ends of the handshake
// and teardown inside the caller's system calls.
func ConnFloor(ctx context.Context, cfg ConnFloorConfig) ([]ConnFloorResult, error) {
	ng, err := StartNginx(ctx, cfg.Dir, 16, cfg.Port, false)
	if err != nil {
		return nil, err
	}
	defer ng.Stop()
	var out []ConnFloorResult
	for _, client := range []string{FloorNetHTTP, FloorDialer, FloorSyscall} {
		r, err := floorRun(ctx, cfg, ng.Addrs, client)
		if err != nil {
			return out, err
		}
		if cfg.Out != nil {
			fmt.Fprintf(cfg.Out, "# %-60s %8.0f req/s  %.4f CPU-ms per request  (%d requests, %d failed)\n",
				r.Client, r.PerSecond, r.CPUPerReq, r.Requests, r.Failures)
		}
		out = append(out, r)
	}
	return out, nil
}

// floorRun sends cfg.Rate requests a second for cfg.Duration with one
// client and measures the process's CPU time over them.
func floorRun(ctx context.Context, cfg ConnFloorConfig, addrs []string, client string) (ConnFloorResult, error) {
	send, err := floorClient(client)
	if err != nil {
		return ConnFloorResult{}, err
	}
	return paced(ctx, client, cfg.Rate, cfg.Workers, cfg.Duration, addrs,
		func(_ int, _ string, i int) error { return send(addrs[i%len(addrs)]) })
}

// pace puts rate tokens a second into tokens, a hundredth at a time, and
// closes it when ctx ends. Tokens nobody takes are dropped.
func pace(ctx context.Context, rate int, tokens chan<- struct{}) {
	defer close(tokens)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for range max(rate/100, 1) {
				select {
				case tokens <- struct{}{}:
				default:
				}
			}
		}
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const floorTimeout = 5 * time.Second

var floorRequest = []byte("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: cpra-agent\r\n\r\n")

// floorClient returns a function that makes one request to addr on a new
// connection and reads the whole response.
func floorClient(client string) (func(addr string) error, error) {
	switch client {
	case FloorNetHTTP:
		// As pipelines/pulse/httpcheck builds it.
		c := &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 64,
			MaxConnsPerHost:     64,
			IdleConnTimeout:     90 * time.Second,
		}}
		header := http.Header{"User-Agent": {"cpra-agent"}}
		return func(addr string) error {
			ctx, cancel := context.WithTimeout(context.Background(), floorTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/health", nil)
			if err != nil {
				return err
			}
			req.Header = header
			resp, err := c.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, err = io.Copy(io.Discard, resp.Body)
			return err
		}, nil
	case FloorDialer:
		d := &net.Dialer{KeepAlive: -1, Timeout: floorTimeout}
		return func(addr string) error {
			conn, err := d.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(floorTimeout)); err != nil {
				return err
			}
			if _, err := conn.Write(floorRequest); err != nil {
				return err
			}
			return readToClose(func(b []byte) (int, error) { return conn.Read(b) })
		}, nil
	case FloorSyscall:
		return func(addr string) error {
			sa, err := sockaddr(addr)
			if err != nil {
				return err
			}
			fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer syscall.Close(fd)
			tv := syscall.NsecToTimeval(floorTimeout.Nanoseconds())
			if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
				return err
			}
			if err := syscall.Connect(fd, sa); err != nil {
				return err
			}
			if _, err := syscall.Write(fd, floorRequest); err != nil {
				return err
			}
			return readToClose(func(b []byte) (int, error) { return syscall.Read(fd, b) })
		}, nil
	}
	return nil, fmt.Errorf("unknown client %q", client)
}

// readToClose reads until the server closes (nginx with keepalive_timeout
// 0 closes after every response) and checks that a 200 came.
func readToClose(read func([]byte) (int, error)) error {
	var buf [1024]byte
	total := 0
	for total < len(buf) {
		n, err := read(buf[total:])
		if n > 0 {
			total += n
		}
		if err == io.EOF || (err == nil && n == 0) {
			break
		}
		if err != nil {
			return err
		}
	}
	if !bytes.HasPrefix(buf[:total], []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("unexpected response %q", buf[:min(total, 40)])
	}
	return nil
}

func sockaddr(addr string) (*syscall.SockaddrInet4, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(host).To4()
	p, err := strconv.Atoi(port)
	if ip == nil || err != nil {
		return nil, fmt.Errorf("not an IPv4 address and port: %q", addr)
	}
	sa := &syscall.SockaddrInet4{Port: p}
	copy(sa.Addr[:], ip)
	return sa, nil
}
