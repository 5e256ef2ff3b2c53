package httpclient

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// NewClient sends the configured authentication and reads secrets from
// their files at each request, so a rotated secret applies at once.
func TestNewClientAuthentication(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.Header.Get("Authorization") }))
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "token")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first")
	tests := []struct {
		name string
		auth Auth
		want string
	}{
		{"none", Auth{}, ""},
		{"basic", Auth{BasicAuth: &BasicAuth{Username: "u", Password: "p"}}, "Basic dTpw"},
		{"bearer file", Auth{Authorization: &Authorization{CredentialsFile: file}}, "Bearer first"},
	}
	for _, tt := range tests {
		resp, err := NewClient(tt.auth, nil).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got != tt.want {
			t.Errorf("%s: Authorization %q, want %q", tt.name, got, tt.want)
		}
	}
	c := NewClient(Auth{Authorization: &Authorization{CredentialsFile: file}}, nil)
	for _, token := range []string{"first", "rotated"} {
		write(token)
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got != "Bearer "+token {
			t.Errorf("one client, token file now %q: sent %q", token, got)
		}
	}
}
