package httpclient

import (
	"crypto/tls"
	"net/http"

	promconfig "github.com/prometheus/common/config"

	"github.com/cpra-agent/cpra-agent/internal/spec"
)

// Auth is how a request authenticates, as Prometheus's HTTPClientConfig
// (and so blackbox_exporter's http module) writes it. At most one of its
// three is set. Secrets are read from their files at each request, so a
// rotated one applies; none is ever logged.
type Auth struct {
	BasicAuth     *BasicAuth     `yaml:"basic_auth"`
	Authorization *Authorization `yaml:"authorization"`
	OAuth2        *OAuth2        `yaml:"oauth2"`
}

// BasicAuth is basic_auth.
type BasicAuth struct {
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

// Authorization is authorization: an Authorization header of a type
// (Bearer by default) and credentials.
type Authorization struct {
	Type            string `yaml:"type"`
	Credentials     string `yaml:"credentials"`
	CredentialsFile string `yaml:"credentials_file"`
}

// OAuth2 is oauth2: the client-credentials grant.
type OAuth2 struct {
	ClientID         string            `yaml:"client_id"`
	ClientSecret     string            `yaml:"client_secret"`
	ClientSecretFile string            `yaml:"client_secret_file"`
	TokenURL         string            `yaml:"token_url"`
	Scopes           []string          `yaml:"scopes"`
	EndpointParams   map[string]string `yaml:"endpoint_params"`
}

// Set reports whether any authentication is configured.
func (a Auth) Set() bool { return a.BasicAuth != nil || a.Authorization != nil || a.OAuth2 != nil }

// Validate reports what is wrong, located in b.
func (a Auth) Validate(b spec.Block) []error {
	var errs []error
	n := 0
	for _, set := range []bool{a.BasicAuth != nil, a.Authorization != nil, a.OAuth2 != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		errs = append(errs, b.Errorf("basic_auth", "basic_auth, authorization and oauth2 exclude each other: set one"))
	}
	if ba := a.BasicAuth; ba != nil {
		switch {
		case ba.Username == "":
			errs = append(errs, spec.Prefix("basic_auth", b.Sub("basic_auth").Errorf("username", "required")))
		case ba.Password != "" && ba.PasswordFile != "":
			errs = append(errs, spec.Prefix("basic_auth", b.Sub("basic_auth").Errorf("password_file", "set password or password_file, not both")))
		}
	}
	if az := a.Authorization; az != nil {
		switch {
		case az.Credentials != "" && az.CredentialsFile != "":
			errs = append(errs, spec.Prefix("authorization", b.Sub("authorization").Errorf("credentials_file", "set credentials or credentials_file, not both")))
		case az.Credentials == "" && az.CredentialsFile == "":
			errs = append(errs, spec.Prefix("authorization", b.Sub("authorization").Errorf("credentials", "required (or credentials_file)")))
		case az.Type != "" && len(az.Type) > 64:
			errs = append(errs, spec.Prefix("authorization", b.Sub("authorization").Errorf("type", "too long")))
		}
	}
	if o := a.OAuth2; o != nil {
		sub := b.Sub("oauth2")
		switch {
		case o.ClientID == "":
			errs = append(errs, spec.Prefix("oauth2", sub.Errorf("client_id", "required")))
		case o.ClientSecret != "" && o.ClientSecretFile != "":
			errs = append(errs, spec.Prefix("oauth2", sub.Errorf("client_secret_file", "set client_secret or client_secret_file, not both")))
		}
		if _, err := ParseURL(sub, "token_url", o.TokenURL); err != nil {
			errs = append(errs, spec.Prefix("oauth2", err))
		}
	}
	return errs
}

// secret is an inline secret, or one read from file at each use.
func secret(inline, file string) promconfig.SecretReader {
	if file != "" {
		return promconfig.NewFileSecret(file)
	}
	return promconfig.NewInlineSecret(inline)
}

// Wrap returns rt with the configured authentication added to every
// request (rt itself when there is none).
func (a Auth) Wrap(rt http.RoundTripper) http.RoundTripper {
	switch {
	case a.BasicAuth != nil:
		return promconfig.NewBasicAuthRoundTripper(promconfig.NewInlineSecret(a.BasicAuth.Username),
			secret(a.BasicAuth.Password, a.BasicAuth.PasswordFile), rt)
	case a.Authorization != nil:
		typ := a.Authorization.Type
		if typ == "" {
			typ = "Bearer"
		}
		return promconfig.NewAuthorizationCredentialsRoundTripper(typ, secret(a.Authorization.Credentials, a.Authorization.CredentialsFile), rt)
	case a.OAuth2 != nil:
		o := a.OAuth2
		cfg := &promconfig.OAuth2{ClientID: o.ClientID, TokenURL: o.TokenURL, Scopes: o.Scopes, EndpointParams: o.EndpointParams}
		return promconfig.NewOAuth2RoundTripper(secret(o.ClientSecret, o.ClientSecretFile), cfg, rt)
	}
	return rt
}

// NewClient is the client of a notifier or a remedy: its own connection
// pool (so closing one releases only its connections), the proxy from the
// usual environment variables, no redirects followed (a redirect would turn
// a POST into a GET and report a delivery that never happened), the TLS
// settings (nil: the system's) and the authentication configured.
func NewClient(auth Auth, tlsCfg *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if tlsCfg != nil {
		tr.TLSClientConfig = tlsCfg
	}
	return &http.Client{
		Transport:     auth.Wrap(tr),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
