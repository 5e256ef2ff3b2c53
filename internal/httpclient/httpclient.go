package httpclient

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/cpra-agent/cpra-agent/internal/spec"
)

// ParseURL validates the receiver URL s found at key: http or https with a host.
func ParseURL(b spec.Block, key, s string) (*url.URL, error) {
	if s == "" {
		return nil, b.Errorf(key, "required")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, b.Errorf(key, "%v", UnwrapURLError(err))
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, b.Errorf(key, "scheme must be http or https, got %q", u.Scheme)
	case u.Host == "":
		return nil, b.Errorf(key, "missing host")
	}
	return u, nil
}

// ParseHeaders validates the `headers` map: token names, no duplicates
// (case-insensitive), no headers the notifier sets itself, no line breaks.
func ParseHeaders(b spec.Block, in map[string]string) (http.Header, error) {
	sub := b.Sub("headers")
	var errs []error
	h := http.Header{}
	for _, name := range slices.Sorted(maps.Keys(in)) {
		value := in[name]
		switch canon := http.CanonicalHeaderKey(name); {
		case !httpguts.ValidHeaderFieldName(name):
			errs = append(errs, sub.Errorf(name, "invalid header name"))
		case canon == "Content-Length" || canon == "Content-Type" || canon == "Host":
			errs = append(errs, sub.Errorf(name, "set by the notifier, cannot be configured"))
		case h[canon] != nil:
			errs = append(errs, sub.Errorf(name, "duplicate header (names are case-insensitive)"))
		case strings.ContainsAny(value, "\r\n\x00"):
			errs = append(errs, sub.Errorf(name, "value must not contain line breaks or NUL"))
		default:
			h.Set(name, value)
		}
	}
	return h, spec.Prefix("headers", errors.Join(errs...))
}

// UnwrapURLError drops the *url.Error wrapper, whose text repeats the URL
// with its query string.
func UnwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
