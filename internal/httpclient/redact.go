package httpclient

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
)

// Redact names a receiver URL for metric labels and logs without its
// secrets: no credentials, query or fragment, and path segments that look
// like tokens (long, or mostly digits, as in Slack or Teams webhook URLs)
// replaced by "…". When something was masked a short digest of the path is
// appended, so two hooks on one host stay apart:
//
//	https://hooks.slack.com/services/T000/B000/XXXX → https://hooks.slack.com/services/…/…/…#3f2a9c1d
//	http://alerts.internal:8080/cpra/hook           → http://alerts.internal:8080/cpra/hook
func Redact(u *url.URL) string {
	path := u.EscapedPath()
	segments := strings.Split(path, "/")
	masked := false
	for i, s := range segments {
		if s != "" && !plain(s) {
			segments[i], masked = "…", true
		}
	}
	out := u.Scheme + "://" + u.Host + strings.Join(segments, "/")
	if masked {
		sum := sha256.Sum256([]byte(path))
		out += "#" + hex.EncodeToString(sum[:4])
	}
	return out
}

// plain reports whether a path segment reads as a name, not a secret:
// short, of letters, digits, '-', '_' and '.', with few digits.
func plain(s string) bool {
	if len(s) > 16 {
		return false
	}
	digits := 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return digits <= 3
}
