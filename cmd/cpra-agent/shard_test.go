package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/internal/realserver"
)

// TestShardsSplitTheMonitors runs three replicas on one monitor file, as a
// StatefulSet would. Every monitor belongs to exactly one shard, each
// shard's cpra_monitors counts only its own, and the red alerts each
// replica sends to the real Alertmanager carry its shard label.
func TestShardsSplitTheMonitors(t *testing.T) {
	t.Parallel()
	am := realserver.StartAlertmanager(t)
	svc := newService(t, true)
	const n, shards = 12, 3
	var ms []string
	want := make([]int, shards)
	shardOf := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("svc-%02d", i)
		s := config.ShardOf(name, shards)
		want[s]++
		shardOf[name] = strconv.Itoa(s)
		ms = append(ms, httpMonitor(name, svc.healthURL(), 1, fmt.Sprintf(`    codes:
      red: {notify: alertmanager, config: {url: %q, resend_interval: 1s}}
`, am.URL)))
	}
	monitors := filepath.Join(t.TempDir(), "monitors.yaml")
	writeMonitors(t, monitors, ms...)

	for i := range shards {
		a := startAgent(t, "--yaml="+monitors, "--shard.count=3", fmt.Sprintf("--shard.index=%d", i))
		a.waitMetrics(t, fmt.Sprintf("shard %d to count only its own monitors", i), func(m metrics) []string {
			total, _ := m.value("cpra_monitors")
			if int(total) != want[i] {
				return []string{fmt.Sprintf("cpra_monitors sums to %v, want %d", total, want[i])}
			}
			return nil
		})
	}
	waitFor(t, "one red alert per monitor, labelled with its shard", func() (bool, string) {
		alerts, err := am.Alerts(context.Background())
		if err != nil {
			return false, err.Error()
		}
		seen := map[string]string{}
		for _, a := range alerts {
			if a.Labels["code"] == "red" && strings.HasPrefix(a.Labels["monitor"], "svc-") {
				seen[a.Labels["monitor"]] = a.Labels["shard"]
			}
		}
		if len(seen) != n {
			return false, fmt.Sprintf("%d of %d monitors alerted", len(seen), n)
		}
		for m, s := range seen {
			if s != shardOf[m] {
				t.Fatalf("monitor %s alerted with shard=%q, want %q", m, s, shardOf[m])
			}
		}
		return true, ""
	})
}
