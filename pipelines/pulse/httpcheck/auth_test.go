package httpcheck

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
)

// guarded answers 200 only to requests whose Authorization header is want.
func guarded(t *testing.T, want string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			http.Error(w, "who are you", http.StatusUnauthorized)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Authentication as Prometheus's HTTPClientConfig writes it: basic_auth
// with a password file, authorization with a credentials file, and the
// oauth2 client-credentials grant against a local token endpoint.
func TestAuthentication(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		if err := r.ParseForm(); err != nil || id != "cpra" || secret != "s3cret" || r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("scope") != "health" {
			http.Error(w, "bad client", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "tok-42", "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(tokens.Close)
	tests := []struct {
		name, want, yaml string
		ok               bool
	}{
		{"basic auth, password file", "Basic Y3ByYTpodW50ZXIy", "basic_auth: {username: cpra, password_file: " + file("pw", "hunter2") + "}", true},
		{"basic auth, wrong password", "Basic Y3ByYTpodW50ZXIy", "basic_auth: {username: cpra, password: nope}", false},
		{"bearer from a file", "Bearer abc", "authorization: {credentials_file: " + file("token", "abc") + "}", true},
		{"another type", "Token abc", "authorization: {type: Token, credentials: abc}", true},
		{"oauth2 client credentials", "Bearer tok-42", "oauth2: {client_id: cpra, client_secret_file: " + file("client", "s3cret") + ", token_url: " + tokens.URL + ", scopes: [health]}", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := guarded(t, tt.want)
			p, _ := newFromYAML(t, "url: "+url+"\n"+tt.yaml+"\n")
			r := probe(t, p, url)
			if r.OK != tt.ok {
				t.Fatalf("result %+v, want OK %v", r, tt.ok)
			}
			for _, secret := range []string{"hunter2", "abc", "s3cret", "nope"} {
				if strings.Contains(r.Reason, secret) {
					t.Errorf("a secret in the failure: %s", r.Reason)
				}
			}
		})
	}
}

func TestAuthenticationConfigErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"basic_auth: {password: x}", "basic_auth.username: required"},
		{"basic_auth: {username: u, password: x, password_file: /f}", "basic_auth.password_file: set password or password_file, not both"},
		{"authorization: {type: Bearer}", "authorization.credentials: required (or credentials_file)"},
		{"oauth2: {client_id: c, token_url: 'ftp://x'}", "oauth2.token_url: scheme must be http or https"},
		{"basic_auth: {username: u, password: p}\nauthorization: {credentials: c}", "basic_auth, authorization and oauth2 exclude each other"},
		{"basic_auth: {username: u, password: p}\nheaders: {Authorization: x}", "Authorization is set by basic_auth"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			_, _, err := Kind.New(spectest.Block(t, "url: http://127.0.0.1:1/\n"+tt.yaml+"\n"), kind.Deps{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
