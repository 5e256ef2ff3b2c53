package example

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

//go:embed monitors.yaml
var monitors string

// Monitors returns the embedded monitor file aimed at the demo at addr.
func Monitors(addr string) []byte {
	_, port, _ := net.SplitHostPort(addr)
	return []byte(strings.NewReplacer("${DEMO_PORT}", port, "${DEMO}", addr).Replace(monitors))
}

// Schedule says when the demo's services break.
type Schedule struct {
	WebFirst, WebEvery time.Duration // web breaks until repaired
	DBFirst, DBEvery   time.Duration // db breaks, cannot be repaired...
	DBOutage           time.Duration // ...and comes back by itself after this
}

// DefaultSchedule shows a whole incident of each kind within a minute.
var DefaultSchedule = Schedule{
	WebFirst: 8 * time.Second, WebEvery: 45 * time.Second,
	DBFirst: 25 * time.Second, DBEvery: 60 * time.Second, DBOutage: 20 * time.Second,
}

// Demo is the demo service.
type Demo struct {
	Addr  string
	srv   *http.Server
	start time.Time
	sched Schedule

	mu          sync.Mutex
	webRepaired time.Time // the last repair; web is broken from its break time until then
}

// Start serves the demo on a free loopback port until ctx ends or Close.
func Start(ctx context.Context, sched Schedule) (*Demo, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo service: %w", err)
	}
	d := &Demo{Addr: ln.Addr().String(), start: time.Now(), sched: sched}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health/web", d.health(d.webBroken))
	mux.HandleFunc("GET /health/db", d.health(d.dbBroken))
	mux.HandleFunc("GET /health/static", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("POST /repair/web", func(w http.ResponseWriter, _ *http.Request) {
		d.mu.Lock()
		d.webRepaired = time.Now()
		d.mu.Unlock()
		fmt.Fprintln(w, "restarted")
	})
	mux.HandleFunc("POST /repair/db", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "restart failed: volume is read-only", http.StatusInternalServerError)
	})
	d.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = d.srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = d.Close()
	}()
	return d, nil
}

// Close stops the demo.
func (d *Demo) Close() error {
	err := d.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (d *Demo) health(broken func(time.Time) bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if broken(time.Now()) {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

// lastBreak is the most recent break time at or before now, or zero.
func (d *Demo) lastBreak(now time.Time, first, every time.Duration) time.Time {
	since := now.Sub(d.start)
	if since < first {
		return time.Time{}
	}
	n := (since - first) / every
	return d.start.Add(first + n*every)
}

func (d *Demo) webBroken(now time.Time) bool {
	b := d.lastBreak(now, d.sched.WebFirst, d.sched.WebEvery)
	if b.IsZero() {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.webRepaired.Before(b)
}

func (d *Demo) dbBroken(now time.Time) bool {
	b := d.lastBreak(now, d.sched.DBFirst, d.sched.DBEvery)
	return !b.IsZero() && now.Sub(b) < d.sched.DBOutage
}
