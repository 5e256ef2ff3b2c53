// Command cpra-benchtarget is the scale benchmark's latency target: an HTTP
// server on loopback that answers like real services do (a log-normal
// delay, a share of monitors that hang, a share that fail). The scale
// benchmark starts it as a process of its own, so that its CPU is measured
// apart from the agent's. See internal/scalebench.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/scalebench"
)

func main() {
	var l scalebench.Latency
	var listen string
	flag.DurationVar(&l.Median, "median", 50*time.Millisecond, "median of the log-normal answer delay")
	flag.Float64Var(&l.Shape, "shape", 0.6, "σ of the log-normal answer delay")
	flag.Float64Var(&l.HangShare, "hang", 0, "share of monitors that never get an answer")
	flag.Float64Var(&l.FailShare, "fail", 0, "share of monitors answered 503")
	flag.StringVar(&listen, "listen", "127.0.0.1:18080", "comma-separated loopback addresses to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := scalebench.ServeLatency(ctx, l, strings.Split(listen, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "cpra-benchtarget:", err)
		os.Exit(1)
	}
}
