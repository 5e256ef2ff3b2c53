package httpclient

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
)

func TestParseURL(t *testing.T) {
	b := spectest.Block(t, "url: x")
	for in, want := range map[string]string{
		"http://127.0.0.1:9093": "",
		"":                      "line 1: url: required",
		"ftp://h":               `line 1: url: scheme must be http or https, got "ftp"`,
		"http://":               "line 1: url: missing host",
	} {
		_, err := ParseURL(b, "url", in)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("ParseURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseHeaders(t *testing.T) {
	b := spectest.Block(t, "headers:\n  X-Token: a\n  x-token: b\n  Host: h\n  bad name: v\n")
	h, err := ParseHeaders(b, map[string]string{"X-Token": "a", "x-token": "b", "Host": "h", "bad name": "v"})
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{"headers.x-token: duplicate header", "headers.Host: set by the notifier", "headers.bad name: invalid header name"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors %q lack %q", err, want)
		}
	}
	if h.Get("X-Token") != "a" {
		t.Errorf("valid header lost: %v", h)
	}
}

func TestUnwrapURLError(t *testing.T) {
	_, err := http.Get("http://127.0.0.1:1/secret?token=abc")
	if err == nil {
		t.Skip("something listens on port 1")
	}
	if got := UnwrapURLError(err).Error(); strings.Contains(got, "token=abc") {
		t.Fatalf("URL with its query kept in %q", got)
	}
	plain := errors.New("x")
	if UnwrapURLError(plain) != plain {
		t.Fatal("other errors must pass through")
	}
}

func TestRedact(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"http://127.0.0.1:8080/hook", "http://127.0.0.1:8080/hook"},
		{"https://user:pw@hooks.example/a/b?token=s3cret#frag", "https://hooks.example/a/b"},
		{"http://127.0.0.1/", "http://127.0.0.1/"},
		{"https://alerts.internal/api/v2/cpra", "https://alerts.internal/api/v2/cpra"},
	} {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := Redact(u); got != tt.want {
			t.Errorf("Redact(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// Token-like segments are masked, and two hooks on a host stay apart.
	a, _ := url.Parse("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX")
	b, _ := url.Parse("https://hooks.slack.com/services/T00000000/B11111111/YYYYYYYYYYYYYYYYYYYYYYYY")
	ra, rb := Redact(a), Redact(b)
	if !strings.HasPrefix(ra, "https://hooks.slack.com/services/…/…/…#") || ra == rb {
		t.Errorf("Redact = %q and %q; want masked segments and distinct digests", ra, rb)
	}
	if strings.Contains(ra, "XXXX") || strings.Contains(ra, "T000") {
		t.Errorf("Redact leaked a token: %q", ra)
	}
}
