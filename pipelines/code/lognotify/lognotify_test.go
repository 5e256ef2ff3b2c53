package lognotify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/internal/spec/spectest"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/kind"
)

func closeOnCleanup(t *testing.T, n code.Notifier) {
	t.Cleanup(func() {
		if err := n.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", "file: x\nfiel: y\n", "line 2: fiel: unknown field (known: file)"},
		{"file not a string", "file: [a]\n", "line 1: file: expected a string value"},
		{"missing directory", "file: " + dir + "/nope/alerts.log\n",
			"line 1: file: cannot open: stat " + dir + "/nope: no such file or directory"},
		{"directory", "file: " + dir + "\n", "line 1: file: cannot open: open " + dir + ": is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Kind.New(spectest.Block(t, tt.yaml), kind.Deps{})
			if err == nil {
				n.Close(context.Background())
				t.Fatalf("New succeeded, want error %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %q\nwant %q", err, tt.want)
			}
		})
	}
}

func TestDestination(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.log")
	tests := []struct{ yaml, want string }{
		{"", "log:stdout"},
		{"file: \"\"\n", "log:stdout"},
		{"file: " + path + "\n", "log:" + path},
	}
	for _, tt := range tests {
		n, err := Kind.New(spectest.Block(t, tt.yaml), kind.Deps{Stdout: &bytes.Buffer{}})
		if err != nil {
			t.Fatalf("New(%q): %v", tt.yaml, err)
		}
		closeOnCleanup(t, n)
		if got := n.Destination(); got != tt.want {
			t.Errorf("Destination(%q) = %q, want %q", tt.yaml, got, tt.want)
		}
	}
}

func TestLineFormat(t *testing.T) {
	at := time.Date(2025, 1, 2, 4, 4, 5, 123000000, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		n    domain.Notification
		want string
	}{
		{
			name: "red with groups and labels",
			n: domain.Notification{Time: at, Monitor: "api", Code: domain.Red, State: "down",
				Message: "status 503 <html> & more", Groups: []string{"web", "edge"},
				Labels: map[string]string{"shard": "0", "env": "prod"}},
			want: `{"time":"2025-01-02T03:04:05.123Z","monitor":"api","code":"red","severity":"critical","state":"down","message":"status 503 <html> & more","groups":["web","edge"],"labels":{"env":"prod","shard":"0"}}`,
		},
		{
			name: "green omits severity, groups and labels",
			n:    domain.Notification{Time: at, Monitor: "api", Code: domain.Green, State: "healthy", Message: "recovered"},
			want: `{"time":"2025-01-02T03:04:05.123Z","monitor":"api","code":"green","state":"healthy","message":"recovered"}`,
		},
		{
			name: "empty state and message are kept",
			n:    domain.Notification{Time: at, Monitor: "db", Code: domain.Gray, Groups: []string{}},
			want: `{"time":"2025-01-02T03:04:05.123Z","monitor":"db","code":"gray","state":"","message":""}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n, err := Kind.New(spec.Block{}, kind.Deps{Stdout: &out})
			if err != nil {
				t.Fatal(err)
			}
			closeOnCleanup(t, n)
			if err := n.Notify(context.Background(), tt.n); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want+"\n" {
				t.Errorf("line:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestZeroTimeUsesNow(t *testing.T) {
	var out bytes.Buffer
	n, err := Kind.New(spec.Block{}, kind.Deps{Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, n)
	before := time.Now()
	if err := n.Notify(context.Background(), domain.Notification{Monitor: "m", Code: domain.Yellow}); err != nil {
		t.Fatal(err)
	}
	var l struct{ Time time.Time }
	if err := json.Unmarshal(out.Bytes(), &l); err != nil {
		t.Fatal(err)
	}
	if l.Time.Before(before.Add(-time.Second)) || l.Time.Location() != time.UTC {
		t.Errorf("time %v, want about %v in UTC", l.Time, before)
	}
}

func TestFileAppendsConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.log")
	if err := os.WriteFile(path, []byte("existing line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := Kind.New(spectest.Block(t, "file: "+path), kind.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 50
	msg := strings.Repeat("x", 5000) // longer than a pipe buffer would hold atomically
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				note := domain.Notification{Time: time.Now(), Monitor: fmt.Sprintf("m%d-%d", w, i),
					Code: domain.Red, State: "down", Message: msg}
				if err := n.Notify(context.Background(), note); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := n.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() || sc.Text() != "existing line" {
		t.Fatalf("first line %q, want the existing one kept", sc.Text())
	}
	seen := map[string]bool{}
	for sc.Scan() {
		var l struct{ Monitor, Code, State, Message, Time string }
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %d is not JSON: %v", len(seen)+2, err)
		}
		if l.Code != "red" || l.State != "down" || l.Message != msg || l.Time == "" {
			t.Errorf("unexpected line for %s", l.Monitor)
		}
		seen[l.Monitor] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != writers*each {
		t.Errorf("%d distinct lines, want %d", len(seen), writers*each)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("existing file mode changed to %v", perm)
	}
}

func TestNewFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.log")
	n, err := Kind.New(spectest.Block(t, "file: "+path), kind.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, n)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("file not created at load: %v", err)
	}
	// The umask may clear bits but never adds any.
	if perm := info.Mode().Perm(); perm&^0o644 != 0 {
		t.Errorf("mode %v, want at most 0644", perm)
	}
}

func TestNotifyAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.log")
	n, err := Kind.New(spectest.Block(t, "file: "+path), kind.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := n.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	err = n.Notify(context.Background(), domain.Notification{Monitor: "m", Code: domain.Red})
	if err == nil || !strings.Contains(err.Error(), "log:"+path) {
		t.Errorf("Notify after Close = %v, want an error naming the destination", err)
	}
}

func TestCloseLeavesStdoutOpen(t *testing.T) {
	var out bytes.Buffer
	a, _ := Kind.New(spec.Block{}, kind.Deps{Stdout: &out})
	b, _ := Kind.New(spec.Block{}, kind.Deps{Stdout: &out})
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	closeOnCleanup(t, b)
	if err := b.Notify(context.Background(), domain.Notification{Monitor: "m", Code: domain.Green}); err != nil {
		t.Fatal(err)
	}
	if out.Len() == 0 {
		t.Error("nothing written")
	}
}

// TestParseCreatesNothing: validating the block (what --config.check and
// a rejected reload do) leaves no file behind; building opens it.
func TestParseCreatesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "codes.log")
	settings, err := Kind.Parse(spectest.Block(t, "file: "+path))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("after Parse: stat %s: %v; want no file", path, err)
	}
	n, err := Kind.Construct(settings, kind.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(context.Background())
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("after Build: %v; want the file", err)
	}
}
