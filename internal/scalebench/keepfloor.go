package scalebench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// KeepFloorConfig is one measurement of what a check costs the client
// process on kept-alive connections to a target that takes its time (the
// latency target), with three clients side by side.
type KeepFloorConfig struct {
	TargetBin string        // cmd/cpra-benchtarget
	Latency   Latency       // how the target answers; no hangs or failures
	Port      int           // its port on 127.0.0.1…127.0.0.16
	Rate      int           // requests per second
	Workers   int           // goroutines sending them; enough for Rate × latency in flight
	Duration  time.Duration // per client
	Out       io.Writer
}

// The clients KeepFloor measures.
const (
	KeepNetHTTP  = "net/http, the http check's transport settings"
	KeepFastHTTP = "fasthttp.HostClient, one per address"
	KeepConn     = "net.Conn per goroutine: write, read the answer"
)

// KeepFloor measures the CPU this process spends per request with each
// client in turn. net/http hands every request to two goroutines of its
// connection (a writer and a reader) and back; fasthttp writes and reads
// on the caller's goroutine; the last client does only that, on a
// connection of its own, with no HTTP machinery: the floor of any client
// that waits on the target through Go's network poller.
func KeepFloor(ctx context.Context, cfg KeepFloorConfig) ([]ConnFloorResult, error) {
	t, err := StartLatencyTarget(ctx, cfg.TargetBin, cfg.Latency, 16, cfg.Port)
	if err != nil {
		return nil, err
	}
	defer t.Stop()
	var out []ConnFloorResult
	for _, client := range []string{KeepNetHTTP, KeepFastHTTP, KeepConn} {
		send, err := keepClient(client, t.Addrs)
		if err != nil {
			return out, err
		}
		r, err := paced(ctx, client, cfg.Rate, cfg.Workers, cfg.Duration, t.Addrs, send)
		if err != nil {
			return out, err
		}
		if cfg.Out != nil {
			fmt.Fprintf(cfg.Out, "# %-50s %8.0f req/s  %.4f CPU-ms per request  (%d requests, %d failed)\n",
				r.Client, r.PerSecond, r.CPUPerReq, r.Requests, r.Failures)
		}
		out = append(out, r)
	}
	return out, nil
}

// paced sends rate requests a second for d from workers goroutines, each
// with its own index (a keepClient's connection slot), and measures the
// process's CPU over them.
func paced(ctx context.Context, client string, rate, workers int, d time.Duration, addrs []string, send func(worker int, addr string, i int) error) (ConnFloorResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tokens := make(chan struct{}, rate)
	go pace(ctx, rate, tokens)
	var done, failed atomic.Int64
	var wg sync.WaitGroup
	cpu0, t0 := selfCPU(), time.Now()
	for w := range workers {
		wg.Go(func() {
			for i := w; ; i += workers {
				if _, ok := <-tokens; !ok {
					return
				}
				if err := send(w, addrs[w%len(addrs)], i); err != nil {
					failed.Add(1)
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(t0), selfCPU()-cpu0
	n := done.Load()
	return ConnFloorResult{
		Client: client, Requests: n, Failures: failed.Load(),
		PerSecond: float64(n) / elapsed.Seconds(),
		CPUPerReq: safeDiv(float64(cpu)/float64(time.Millisecond), float64(n)),
	}, nil
}

// keepClient returns a function that makes one request for worker to addr
// (for monitor i) on a kept-alive connection and reads the answer.
func keepClient(client string, addrs []string) (func(worker int, addr string, i int) error, error) {
	switch client {
	case KeepNetHTTP:
		c := &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     90 * time.Second,
		}}
		header := http.Header{"User-Agent": {"cpra-agent"}}
		return func(_ int, addr string, i int) error {
			ctx, cancel := context.WithTimeout(context.Background(), floorTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/health/"+strconv.Itoa(i), nil)
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
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return err
		}, nil
	case KeepFastHTTP:
		hosts := map[string]*fasthttp.HostClient{}
		for _, a := range addrs {
			hosts[a] = &fasthttp.HostClient{Addr: a, MaxConns: 4096, Name: "cpra-agent"}
		}
		return func(_ int, addr string, i int) error {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + addr + "/health/" + strconv.Itoa(i))
			if err := hosts[addr].DoTimeout(req, resp, floorTimeout); err != nil {
				return err
			}
			if resp.StatusCode() != fasthttp.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode())
			}
			return nil
		}, nil
	case KeepConn:
		type conn struct {
			c net.Conn
			r *bufio.Reader
		}
		var mu sync.Mutex
		conns := map[int]*conn{}
		return func(worker int, addr string, i int) error {
			mu.Lock()
			c := conns[worker]
			mu.Unlock()
			if c == nil {
				nc, err := net.DialTimeout("tcp", addr, floorTimeout)
				if err != nil {
					return err
				}
				c = &conn{c: nc, r: bufio.NewReaderSize(nc, 4096)}
				mu.Lock()
				conns[worker] = c
				mu.Unlock()
			}
			if err := c.c.SetDeadline(time.Now().Add(floorTimeout)); err != nil {
				return err
			}
			req := "GET /health/" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: cpra-agent\r\n\r\n"
			if _, err := io.WriteString(c.c, req); err != nil {
				return err
			}
			return readAnswer(c.r)
		}, nil
	}
	return nil, fmt.Errorf("unknown client %q", client)
}

// readAnswer reads one HTTP/1.1 answer with a Content-Length and checks
// that it is a 200.
func readAnswer(r *bufio.Reader) error {
	status, err := r.ReadSlice('\n')
	if err != nil {
		return err
	}
	ok := bytes.HasPrefix(status, []byte("HTTP/1.1 200 "))
	length := 0
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, found := bytes.CutPrefix(bytes.ToLower(line), []byte("content-length:")); found {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if _, err := r.Discard(length); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("unexpected answer %q", status)
	}
	return nil
}
