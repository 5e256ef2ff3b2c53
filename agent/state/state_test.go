package state

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestWriteThenRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // created by Write
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	in := &File{
		Shard:    Shard{Index: 1, Count: 3},
		Written:  at,
		Monitors: []Monitor{{Name: "api", State: "down", Fails: 4, Guarded: true, Interventions: 3, WindowStart: 1_800_000_000}},
		Enabled:  Hashes([]uint64{9, 3, 7}),
		Open:     []OpenIncident{{Monitor: "api", ID: 42, Start: at, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7"}},
		Held: []Held{{Subject: "api", Destination: "alertmanager:http://127.0.0.1:9093", Code: "red", At: at, Sent: at,
			Firing: Notification{Time: at, Monitor: "api", Code: "red", State: "down", Groups: []string{"web"}, Incident: 42}}},
		Pending: []Pending{{Destination: "webhook:http://127.0.0.1:1/x", First: at, Attempts: 7,
			Notification: Notification{Time: at, Monitor: "api", Code: "green", ReplacesCode: "red", ReplacesAt: at}}},
	}
	size, err := Write(dir, in)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, FileName)); err != nil || fi.Size() != int64(size) {
		t.Fatalf("state file: %v, size %v, Write said %d", err, fi, size)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, FileName+".tmp-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	out, err := Read(dir, Shard{Index: 1, Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("read back\n%+v\nwant\n%+v", out, in)
	}
	for _, h := range []uint64{3, 7, 9} {
		if !HasHash(out.Enabled, h) {
			t.Errorf("hash %d missing", h)
		}
	}
	if HasHash(out.Enabled, 8) || HasHash(nil, 1) {
		t.Error("HasHash found a hash that is not there")
	}
}

func TestReadMissing(t *testing.T) {
	f, err := Read(t.TempDir(), Shard{Count: 1})
	if f != nil || err != nil {
		t.Errorf("Read of an empty directory: %v, %v", f, err)
	}
}

// A state file that is corrupt, foreign or another shard's is moved aside,
// reported, and never used.
func TestBadFilesAreSetAside(t *testing.T) {
	tests := []struct{ name, content, says string }{
		{"truncated", `{"program":"cpra-agent","version":1,"monitors":[{"na`, "does not parse"},
		{"not JSON", "\x00\x01binary", "does not parse"},
		{"foreign", `{"program":"gatus","version":1,"shard":{"count":1}}`, `written by "gatus"`},
		{"future version", `{"program":"cpra-agent","version":9,"shard":{"count":1}}`, "format version 9"},
		{"other shard", `{"program":"cpra-agent","version":1,"shard":{"index":2,"count":4}}`, "shard 2 of 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			f, err := Read(dir, Shard{Count: 1})
			var aside *SetAsideError
			if f != nil || !errors.As(err, &aside) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("Read: %v, %v; want it set aside saying %q", f, err, tt.says)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("the bad file is still at %s", path)
			}
			if data, err := os.ReadFile(aside.MovedTo); err != nil || string(data) != tt.content {
				t.Errorf("moved file %s: %v", aside.MovedTo, err)
			}
		})
	}
}
