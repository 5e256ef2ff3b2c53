package fastyaml

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"
)

// genMonitors renders n monitors shaped like the ones in large generated
// monitor files (see the example in parse_test.go).
func genMonitors(n int) []byte {
	b := make([]byte, 0, n*300)
	b = append(b, "# generated\nmonitors:\n"...)
	for i := 0; i < n; i++ {
		b = fmt.Appendf(b, `  - name: svc-%07d
    groups: fleet
    pulse_check:
      type: http
      interval: 60s
      timeout: 5s
      config:
        url: http://10.%d.%d.%d:8080/health
        headers: {Authorization: "Bearer x"}
    codes:
      red: {notify: log, config: {file: ""}}
      yellow: {dispatch: false}
`, i, i>>16&255, i>>8&255, i&255)
	}
	return b
}

var (
	bench100kOnce sync.Once
	bench100k     []byte
)

func monitors100k() []byte {
	bench100kOnce.Do(func() { bench100k = genMonitors(100_000) })
	return bench100k
}

func TestGeneratedMatchesYAMLv3(t *testing.T) {
	data := genMonitors(500)
	if !check(t, data) {
		t.Fatal("Parse bailed out on generated monitors")
	}
}

// benchLoad times parse like a load at startup: every iteration begins
// with a clean heap, and the tree stays alive until the next one. Without
// the untimed runtime.GC, each iteration also pays for collecting the
// previous ~600 MB tree, which mostly measures the GC.
func benchLoad(b *testing.B, parse func([]byte) *yaml.Node) {
	data := monitors100k()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var keep *yaml.Node
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		keep = nil
		runtime.GC()
		b.StartTimer()
		keep = parse(data)
	}
	runtime.KeepAlive(keep)
}

func BenchmarkParse_100k(b *testing.B) {
	benchLoad(b, func(data []byte) *yaml.Node {
		n, ok := Parse(data)
		if !ok {
			b.Fatal("bailed out")
		}
		return n
	})
}

func BenchmarkYAMLv3_100k(b *testing.B) {
	benchLoad(b, func(data []byte) *yaml.Node {
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil {
			b.Fatal(err)
		}
		return &n
	})
}

// The single-monitor benchmarks measure per-call overhead, for callers that
// parse monitors one chunk at a time.
func BenchmarkParse_1(b *testing.B) {
	data := []byte(example)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Parse(data); !ok {
			b.Fatal("bailed out")
		}
	}
}

func BenchmarkYAMLv3_1(b *testing.B) {
	data := []byte(example)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil {
			b.Fatal(err)
		}
	}
}
