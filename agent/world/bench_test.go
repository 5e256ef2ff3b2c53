package world

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/pipelines/builtin"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// generateFile writes n HTTP monitors with distinct names and URLs in the
// seed format, the shape of a large real fleet.
func generateFile(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 200)
	b.WriteString("monitors:\n")
	for i := range n {
		fmt.Fprintf(&b, `  - name: svc-%07d
    groups: fleet
    pulse_check:
      type: http
      interval: 60s
      timeout: 5s
      config:
        url: http://10.%d.%d.%d:8080/health
    codes:
      red: {notify: log, config: {file: ""}}
`, i, i>>16&255, i>>8&255, i&255)
	}
	return b.Bytes()
}

func kinds(tb testing.TB) *config.Kinds {
	k, err := config.NewKinds(builtin.Checks(), builtin.Interventions(), builtin.Notifiers(), kind.Deps{Stdout: &bytes.Buffer{}})
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkLoadFile_1M parses a 1,000,000-monitor file and loads it into the
// world: the cold start of a large agent. It reports the heap the world
// keeps per monitor, URL and name text included.
func BenchmarkLoadFile_1M(b *testing.B) { benchLoadFile(b, 1_000_000) }

// BenchmarkLoadFile_100k is the same at a tenth of the size.
func BenchmarkLoadFile_100k(b *testing.B) { benchLoadFile(b, 100_000) }

func benchLoadFile(b *testing.B, n int) {
	data := generateFile(n)
	k := kinds(b)
	var w *World
	var perMonitor float64
	var parse, apply time.Duration
	for b.Loop() {
		w = nil
		base := heapInUse()
		start := time.Now()
		ms, err := config.ParseMonitors("bench.yaml", data, k, nil)
		if err != nil {
			b.Fatal(err)
		}
		parse = time.Since(start)
		start = time.Now()
		w, err = New(time.Now(), Options{Capacity: n})
		if err != nil {
			b.Fatal(err)
		}
		var fx Effects
		applyParsed(b, w, ms, time.Now(), &fx)
		apply = time.Since(start)
		ms = nil
		perMonitor = float64(heapInUse()-base) / float64(n)
	}
	if w.Len() != n {
		b.Fatalf("world holds %d monitors, want %d", w.Len(), n)
	}
	b.ReportMetric(perMonitor, "heap-B/monitor")
	b.ReportMetric(parse.Seconds(), "parse-s")
	b.ReportMetric(apply.Seconds(), "apply-s")
	runtime.KeepAlive(w)
}

// BenchmarkDue_1M measures the owner's cost per due monitor: finding it in
// the wheel, building its job, and applying its outcome (state machine and
// rescheduling). One op is one due monitor.
func BenchmarkDue_1M(b *testing.B) {
	start := time.Unix(1_800_000_000, 0)
	w := benchWorld(b, 1_000_000, start)
	var fx Effects
	jobs := make([]CheckJob, 0, 4096)
	now := start
	ok := pulse.Result{OK: true}
	b.ResetTimer()
	done := 0
	for done < b.N {
		now = now.Add(10 * time.Millisecond)
		jobs = jobs[:0]
		w.Due(now, func(j CheckJob) bool { jobs = append(jobs, j); return true })
		for _, j := range jobs {
			w.ApplyCheck(CheckOutcome{Entity: j.Entity, Due: j.Due, Result: ok}, now, &fx)
		}
		fx.Reset()
		done += len(jobs)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(done), "ns/due-monitor")
}

// benchWorld is a world of n generated monitors (generateFile), applied at
// start; the parsed file is dropped.
func benchWorld(b *testing.B, n int, start time.Time) *World {
	b.Helper()
	ms, err := config.ParseMonitors("bench.yaml", generateFile(n), kinds(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	w, err := New(start, Options{Capacity: n})
	if err != nil {
		b.Fatal(err)
	}
	var fx Effects
	applyParsed(b, w, ms, start, &fx)
	return w
}
