package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Start-up says what is wrong first, before anything starts (issue #13,
// item 7).
func TestStartupErrors(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing monitor file", []string{"--yaml=/nonexistent/monitors.yaml"}, "monitor file: stat /nonexistent/monitors.yaml: no such file or directory"},
		{"unknown flag", []string{"--verbose"}, "unknown flag: --verbose (cpra-agent --help lists the flags)"},
		{"busy port", []string{"--yaml=testdata/valid.yaml", "--web.listen-address=" + busy.Addr().String()}, "web.listen-address: listen tcp " + busy.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := runAgent(t, tt.args...)
			if err == nil || !strings.Contains(stderr, tt.want) {
				t.Fatalf("%v: %v, stderr:\n%s\nwant an error saying %q", tt.args, err, stderr, tt.want)
			}
			for _, said := range []string{"starting cpra-agent", "shutting down", "shutdown complete"} {
				if strings.Contains(stderr, said) {
					t.Errorf("%v: said %q before the error:\n%s", tt.args, said, stderr)
				}
			}
		})
	}
}

// --config.check reports the agent configuration too and, with shards,
// this shard's share of the monitors.
func TestConfigCheckReportsShard(t *testing.T) {
	t.Parallel()
	stdout, _, err := runAgent(t, "--config.check", "--yaml=testdata/valid.yaml", "--shard.count=2", "--shard.index=1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"testdata/valid.yaml: 2 monitors OK", "shard 1 of 2 owns ", "agent configuration OK"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--config.check output lacks %q:\n%s", want, stdout)
		}
	}
}

// A monitor name with an invisible or bidirectional control character
// cannot pose as another (issue #22, item 7): "api" followed by a
// zero-width space is a load error, not a second "api".
func TestInvisibleNameIsALoadError(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "monitors.yaml")
	data := "monitors:\n" +
		"  - name: api\n    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 9}}\n" +
		"  - name: \"api\\u200b\"\n    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 9}}\n"
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runAgent(t, "--config.check", "--yaml="+file)
	want := file + `:4: monitor "api\u200b": name: must not contain invisible or bidirectional control characters (U+200B at byte 3)`
	if err == nil || !strings.Contains(stderr, want) {
		t.Fatalf("--config.check of a name with a zero-width space: %v, stderr:\n%s\nwant %q", err, stderr, want)
	}
}

// A mistake in one monitor's text is found where it is, without parsing
// the whole file again (issue #22, item 5): every monitor's syntax error is
// reported, each at its own line, as the whole-file parser never could (it
// stops at the first).
func TestSyntaxErrorsReportedPerMonitor(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "monitors.yaml")
	bad := func(name string) string {
		return "  - name: " + name + "\n    pulse_check:\n      type: tcp\n     interval: 30s\n      config: {host: 127.0.0.1, port: 9}\n"
	}
	good := "  - name: ok\n    pulse_check: {type: tcp, config: {host: 127.0.0.1, port: 9}}\n"
	if err := os.WriteFile(file, []byte("monitors:\n"+bad("first")+good+bad("last")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runAgent(t, "--config.check", "--yaml="+file)
	for _, want := range []string{file + ": invalid YAML: line 4: did not find expected key", file + ": invalid YAML: line 11: did not find expected key"} {
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("--config.check of two broken monitors: %v, stderr:\n%s\nwant %q", err, stderr, want)
		}
	}
}
