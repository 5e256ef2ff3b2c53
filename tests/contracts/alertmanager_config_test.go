package contracts

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The shipped Alertmanager configuration (deploy/alertmanager) is valid for
// the real Alertmanager, and routes without a loop: alerts about a monitor
// go into the agent and to people, while the agent's own codes and its
// rules' alerts go to people only, never back into the agent (issue #13,
// item 3).
func TestShippedAlertmanagerConfig(t *testing.T) {
	amtool, err := exec.LookPath("amtool")
	if err != nil {
		t.Skip("amtool not installed: make test-deps (as root) installs prometheus-alertmanager")
	}
	file, err := filepath.Abs("../../deploy/alertmanager/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(amtool, "check-config", file).CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	tests := []struct {
		labels []string
		want   string
	}{
		{[]string{"alertname=HighLatency", "cpra_monitor=shop", "severity=critical"}, "cpra-agent,people"},
		{[]string{"alertname=CPRAMonitor", "monitor=shop", "code=red", "cpra_monitor=shop"}, "people"},
		{[]string{"alertname=CPRAMonitorDown", "monitor=shop"}, "people"},
		{[]string{"alertname=CPRAWebhookUnroutedAlerts"}, "people"},
		{[]string{"alertname=DiskFull", "instance=db-1"}, "people"},
	}
	for _, tt := range tests {
		args := append([]string{"config", "routes", "test", "--config.file=" + file}, tt.labels...)
		out, err := exec.Command(amtool, args...).Output()
		if err != nil {
			t.Fatalf("amtool %s: %v", strings.Join(args, " "), err)
		}
		if got := strings.TrimSpace(string(out)); got != tt.want {
			t.Errorf("%v routes to %q, want %q", tt.labels, got, tt.want)
		}
	}
}
