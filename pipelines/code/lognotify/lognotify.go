package lognotify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
)

// Kind registers the notifier as `notify: log`.
var Kind = code.Kind{Name: "log", Parse: parse, Build: build}

type config struct {
	File string `yaml:"file"` // empty means Deps.Stdout
}

// Notifier writes codes as JSON lines.
type Notifier struct {
	dest string

	mu     sync.Mutex
	w      io.Writer
	file   *os.File // nil when writing to standard output, which we do not own
	closed bool
}

// settings are a validated block: where to write, and the line of `file:`
// for an error when the file cannot be opened.
type settings struct {
	file string
	line int
}

// parse validates the block; the file is opened by build, so that
// --config.check and a rejected reload create nothing.
func parse(b spec.Block) (any, error) {
	var cfg config
	if err := b.Decode(&cfg); err != nil {
		return nil, err
	}
	if cfg.File != "" {
		// Looked at, not created: --config.check catches a mistyped path.
		if dir, err := os.Stat(filepath.Dir(cfg.File)); err != nil {
			return nil, b.Errorf("file", "cannot open: %v", err)
		} else if !dir.IsDir() {
			return nil, b.Errorf("file", "cannot open: %s is not a directory", filepath.Dir(cfg.File))
		}
	}
	return settings{file: cfg.File, line: b.LineOf("file")}, nil
}

// build opens the file (appending; created when missing).
func build(s any, deps kind.Deps) (code.Notifier, error) {
	st := s.(settings)
	if st.file == "" {
		w := deps.WithDefaults().Stdout
		return &Notifier{dest: "log:stdout", w: w}, nil
	}
	// The directory is not created: a mistyped path should fail at load,
	// not quietly grow a directory tree.
	f, err := os.OpenFile(st.file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, &spec.Error{Line: st.line, Field: "file", Msg: fmt.Sprintf("cannot open: %v", err)}
	}
	return &Notifier{dest: "log:" + st.file, w: f, file: f}, nil
}

// line is the JSON object written for one notification.
type line struct {
	Time     string            `json:"time"`
	Monitor  string            `json:"monitor"`
	About    string            `json:"about,omitempty"` // "host" or "alert" when not a monitor
	Code     string            `json:"code"`
	Severity string            `json:"severity,omitempty"`
	State    string            `json:"state"`
	Message  string            `json:"message"`
	Groups   []string          `json:"groups,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Incident uint64            `json:"incident_id,omitempty"`
	TraceID  string            `json:"trace_id,omitempty"`
}

// Notify writes one line. A retry after a failed write may leave a partial
// line before the complete one; a reader should skip lines that do not parse.
func (n *Notifier) Notify(_ context.Context, note domain.Notification) error {
	t := note.Time
	if t.IsZero() {
		t = time.Now()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<" and "&" readable in messages
	err := enc.Encode(line{
		Time:     t.UTC().Format(time.RFC3339Nano),
		Monitor:  note.Monitor,
		About:    about(note),
		Code:     note.Code.String(),
		Severity: note.Code.Severity(),
		State:    note.State,
		Message:  note.Message,
		Groups:   note.Groups,
		Labels:   note.Labels,
		Incident: note.Incident,
		TraceID:  note.TraceID(),
	})
	if err != nil {
		return fmt.Errorf("%s: encode: %w", n.dest, err)
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("%s: %w", n.dest, os.ErrClosed)
	}
	// One Write per line: with O_APPEND even another process appending to
	// the same file cannot split it.
	if _, err := n.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("%s: write: %w", n.dest, err)
	}
	return nil
}

// Destination returns "log:stdout" or "log:<path>".
func (n *Notifier) Destination() string { return n.dest }

// Close closes the file. Standard output is left open. Closing twice is
// harmless.
func (n *Notifier) Close(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	if n.file == nil {
		return nil
	}
	if err := n.file.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("%s: close: %w", n.dest, err)
	}
	return nil
}

// about is what a code that is not about a monitor is about.
func about(n domain.Notification) string {
	if n.About == domain.AboutMonitor {
		return ""
	}
	return n.About.String()
}
