package tcpcheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/internal/testpki"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// smtpLike serves a loopback SMTP-like dialogue: a banner, EHLO offering
// STARTTLS, the upgrade, then QUIT answered 221 over TLS.
func smtpLike(t *testing.T, banner string, cert tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				w := func(conn net.Conn, s string) { _, _ = conn.Write([]byte(s + "\r\n")) }
				w(c, banner)
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch strings.TrimSpace(line) {
					case "EHLO cpra":
						w(c, "250-mail.test")
						w(c, "250 STARTTLS")
					case "STARTTLS":
						w(c, "220 go ahead")
						tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
						if tc.Handshake() != nil {
							return
						}
						tr := bufio.NewReader(tc)
						if l, _ := tr.ReadString('\n'); strings.TrimSpace(l) == "QUIT" {
							w(tc, "221 bye")
						}
						return
					}
				}
			}(c)
		}
	}()
	return ln.Addr().String()
}

const smtpDialogue = `query_response:
  - expect: "^220 "
  - send: "EHLO cpra"
  - expect: "^250 STARTTLS"
  - send: "STARTTLS"
  - expect: "^220"
  - starttls: true
  - send: "QUIT"
  - expect: "^221"
tls_config: {insecure_skip_verify: true}
`

func probeBlock(t *testing.T, k pulse.Kind, yaml string) pulse.Result {
	t.Helper()
	p, addr, err := k.New(spectest.Block(t, yaml), kind.Deps{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// Short: a banner that never matches is read until the deadline.
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	return p.Probe(ctx, pulse.Target{Monitor: "m", Address: addr})
}

func TestQueryResponse(t *testing.T) {
	later := time.Now().Add(60 * 24 * time.Hour).Truncate(time.Second)
	soon := time.Now().Add(2 * 24 * time.Hour).Truncate(time.Second)
	tests := []struct {
		name, banner string
		notAfter     time.Time
		yaml         string
		fails        string
	}{
		{"STARTTLS dialogue", "220 mail.test ESMTP", later, smtpDialogue, ""},
		{"banner mismatch", "SSH-2.0-OpenSSH_9.2", later, smtpDialogue, `query_response[0]: expected "^220 "`},
		{"expiring certificate after STARTTLS", "220 mail.test ESMTP", soon, smtpDialogue, `certificate "mail.test" expires`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := smtpLike(t, tt.banner, testpki.SelfSigned(t, "mail.test", tt.notAfter))
			r := probeBlock(t, Kind, "address: "+addr+"\n"+tt.yaml)
			switch {
			case tt.fails == "" && !r.OK:
				t.Fatalf("failed: %s", r.Reason)
			case tt.fails != "" && (r.OK || !strings.Contains(r.Reason, tt.fails)):
				t.Fatalf("result %+v, want a failure saying %q", r, tt.fails)
			}
			if tt.name == "banner mismatch" && !strings.Contains(r.Reason, `last line "SSH-2.0-OpenSSH_9.2"`) {
				t.Errorf("the failure does not quote what the server said: %s", r.Reason)
			}
			if tt.fails == "" && r.CertExpiry != tt.notAfter.Unix() {
				t.Errorf("CertExpiry %d, want %d", r.CertExpiry, tt.notAfter.Unix())
			}
		})
	}
}

// tlsServer accepts TLS connections with cert and closes them.
func tlsServer(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// The tls kind, and tcp with tls: true: the handshake, the chain verified
// unless insecure_skip_verify, the expiry checked.
func TestTLS(t *testing.T) {
	later := time.Now().Add(60 * 24 * time.Hour).Truncate(time.Second)
	soon := time.Now().Add(2 * 24 * time.Hour).Truncate(time.Second)
	good, expiring := tlsServer(t, testpki.SelfSigned(t, "db.test", later)), tlsServer(t, testpki.SelfSigned(t, "db.test", soon))
	plain := smtpLike(t, "220 not TLS", testpki.SelfSigned(t, "x", later)) // speaks plain text first
	tests := []struct {
		name  string
		k     pulse.Kind
		yaml  string
		fails string
	}{
		{"tls kind", TLSKind, "address: " + good + "\ntls_config: {insecure_skip_verify: true}\n", ""},
		{"tcp with tls", Kind, "address: " + good + "\ntls: true\ntls_config: {insecure_skip_verify: true}\n", ""},
		{"unverified chain", TLSKind, "address: " + good + "\n", "certificate signed by unknown authority"},
		{"expiring", TLSKind, "address: " + expiring + "\ntls_config: {insecure_skip_verify: true}\n", `certificate "db.test" expires`},
		{"expiring, warning off", TLSKind, "address: " + expiring + "\ntls_config: {insecure_skip_verify: true}\ntls_expiry_warning: 0s\n", ""},
		{"not TLS at all", TLSKind, "address: " + plain + "\ntls_config: {insecure_skip_verify: true}\n", "TLS handshake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := probeBlock(t, tt.k, tt.yaml)
			switch {
			case tt.fails == "" && !r.OK:
				t.Fatalf("failed: %s", r.Reason)
			case tt.fails != "" && (r.OK || !strings.Contains(r.Reason, tt.fails)):
				t.Fatalf("result %+v, want a failure saying %q", r, tt.fails)
			}
		})
	}
}

func TestDialogueConfigErrors(t *testing.T) {
	tests := []struct {
		k          pulse.Kind
		yaml, want string
	}{
		{Kind, "query_response: [{}]", "line 2: query_response[0]: needs expect, send or starttls"},
		{Kind, "query_response: [{expect: '('}]", "query_response[0].expect: invalid regexp"},
		{Kind, "query_response: [{send: \"a\\nb\"}]", "query_response[0].send: one line"},
		{TLSKind, "tls: true", "line 2: tls: not a key of the tls check"},
		{TLSKind, "query_response: [{send: x}]", "query_response: not a key of the tls check"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			_, _, err := tt.k.New(spectest.Block(t, "address: 127.0.0.1:1\n"+tt.yaml+"\n"), kind.Deps{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
