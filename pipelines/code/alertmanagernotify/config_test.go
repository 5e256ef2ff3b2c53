package alertmanagernotify

import (
	"context"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
)

func TestConfigErrors(t *testing.T) {
	const url = "url: http://127.0.0.1:9093\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"empty block", "", "line 1: url: required"},
		{"missing url", "timeout: 1s\n", "line 1: url: required"},
		{"unknown key", url + "resend: 1m\n",
			"line 2: resend: unknown field (known: authorization, basic_auth, generator_url, headers, labels, oauth2, resend_interval, timeout, tls_config, url)"},
		{"bad scheme", "url: unix:///run/am.sock\n", `line 1: url: scheme must be http or https, got "unix"`},
		{"no host", "url: http://\n", "line 1: url: missing host"},
		{"query", "url: http://127.0.0.1:9093/?x=1\n", "line 1: url: must not have a query or fragment"},
		{"zero timeout", url + "timeout: 0s\n", "line 2: timeout: must be greater than zero"},
		{"zero resend", url + "resend_interval: 0s\n", "line 2: resend_interval: must be greater than zero"},
		{"bad resend", url + "resend_interval: often\n",
			`line 2: resend_interval: invalid duration "often" (use a number and a unit: ms, s, m, h, d)`},
		{"basic auth without username", url + "basic_auth:\n  password: x\n", "line 3: basic_auth.username: required"},
		{"basic auth unknown key", url + "basic_auth:\n  user: x\n",
			"line 3: basic_auth.user: unknown field (known: password, password_file, username)"},
		{"basic auth and authorization", url + "headers: {Authorization: Bearer x}\nbasic_auth: {username: u}\n",
			"line 2: headers: Authorization is set by basic_auth, authorization or oauth2; not both"},
		{"bad header", url + "headers:\n  \"a b\": x\n", "line 3: headers.a b: invalid header name"},
		{"reserved header", url + "headers:\n  Host: x\n", "line 3: headers.Host: set by the notifier, cannot be configured"},
		{"bad label name", url + "labels:\n  env: prod\n  1st: x\n",
			"line 4: labels.1st: invalid label name (want [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"},
		{"reserved label prefix", url + "labels:\n  __name__: x\n",
			"line 3: labels.__name__: invalid label name (want [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"},
		{"built-in label", url + "labels:\n  severity: page\n", "line 3: labels.severity: set by the notifier, cannot be configured"},
		{"empty label value", url + "labels:\n  env: \"\"\n", "line 3: labels.env: empty value"},
		{"labels not a map", url + "labels: [a]\n", "line 2: labels: expected a mapping"},
		{"bad generator url", url + "generator_url: grafana\n", `line 2: generator_url: scheme must be http or https, got ""`},
		{"every problem", "url: ftp://x\ntimeout: 0s\nlabels: {code: x}\n",
			"line 1: url: scheme must be http or https, got \"ftp\"\n" +
				"line 2: timeout: must be greater than zero\n" +
				"line 3: labels.code: set by the notifier, cannot be configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Kind.New(spectest.Block(t, tt.yaml), kind.Deps{})
			if err == nil {
				n.Close(context.Background())
				t.Fatalf("New succeeded, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %q\nwant %q", err, tt.want)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name, yaml string
		check      func(t *testing.T, s settings)
	}{
		{"defaults", "url: http://127.0.0.1:9093", func(t *testing.T, s settings) {
			if s.timeout != 10*time.Second || s.resend != time.Minute {
				t.Errorf("timeout %v resend %v, want 10s and 1m", s.timeout, s.resend)
			}
			if len(s.labels) != 0 || len(s.headers) != 0 || s.auth.Set() || s.generatorURL != "" {
				t.Errorf("unexpected settings %+v", s)
			}
		}},
		{"everything", `
url: https://am.example:9093/prefix
timeout: 3s
resend_interval: 30s
headers: {X-Scope-OrgID: team-a}
basic_auth: {username: cpra, password: s3cret}
labels: {env: prod, region: eu}
generator_url: https://grafana.example/d/cpra
`, func(t *testing.T, s settings) {
			if s.timeout != 3*time.Second || s.resend != 30*time.Second {
				t.Errorf("timeout %v resend %v", s.timeout, s.resend)
			}
			if s.headers.Get("X-Scope-OrgID") != "team-a" || s.auth.BasicAuth.Username != "cpra" || s.auth.BasicAuth.Password != "s3cret" {
				t.Errorf("auth settings %+v %+v", s.headers, s.auth.BasicAuth)
			}
			if s.labels["env"] != "prod" || s.labels["region"] != "eu" || s.generatorURL != "https://grafana.example/d/cpra" {
				t.Errorf("labels %v generator %q", s.labels, s.generatorURL)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parseConfig(spectest.Block(t, tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestDestinationAndEndpoint(t *testing.T) {
	tests := []struct{ url, dest, endpoint string }{
		{"http://127.0.0.1:9093", "alertmanager:http://127.0.0.1:9093", "http://127.0.0.1:9093/api/v2/alerts"},
		{"http://127.0.0.1:9093/", "alertmanager:http://127.0.0.1:9093/", "http://127.0.0.1:9093/api/v2/alerts"},
		{"https://u:pw@am.example/prefix", "alertmanager:https://am.example/prefix", "https://u:pw@am.example/prefix/api/v2/alerts"},
	}
	for _, tt := range tests {
		n, err := Kind.New(spectest.Block(t, "url: "+tt.url), kind.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		am := n.(*Notifier)
		if am.Destination() != tt.dest || am.endpoint != tt.endpoint {
			t.Errorf("%s: destination %q endpoint %q, want %q %q", tt.url, am.Destination(), am.endpoint, tt.dest, tt.endpoint)
		}
		if err := n.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}
}
