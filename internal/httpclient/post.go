package httpclient

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// UserAgent is the User-Agent of every request the agent makes.
const UserAgent = "cpra-agent"

// errorBodyLimit is how much of a refusing answer an error quotes.
const errorBodyLimit = 200

// PostJSON posts body, JSON, to url with c within timeout, with the
// User-Agent and the configured headers (which may override it). A 2xx
// answer is success (its body drained a little, so the connection is
// reused); anything else is an error that starts with dest and quotes the
// answer's status and the start of its body.
func PostJSON(ctx context.Context, c *http.Client, url string, headers http.Header, body []byte, timeout time.Duration, dest string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", dest, err)
	}
	req.Header.Set("User-Agent", UserAgent)
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", dest, UnwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, errorBodyLimit))
	return fmt.Errorf("%s: status %s: %q", dest, resp.Status, bytes.TrimSpace(snippet))
}
