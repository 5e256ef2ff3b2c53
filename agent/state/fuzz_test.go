package state

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzRead: any state.json is either used (and then every stored monitor
// and notification converts or says what is wrong) or set aside with the
// file moved; never a panic, never a crash of the start.
func FuzzRead(f *testing.F) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	good := &File{Shard: Shard{Count: 1}, Written: at, Enabled: Hashes([]uint64{1, 2}),
		Monitors: []Monitor{{Name: "api", State: "down", Fails: 3}},
		Open:     []OpenIncident{{Monitor: "api", ID: 7, Start: at}},
		Held:     []Held{{Subject: "api", Destination: "alertmanager:http://127.0.0.1:9093", Code: "red", At: at, Firing: Notification{Monitor: "api", Code: "red"}}},
		Pending:  []Pending{{Destination: "log:stdout", Notification: Notification{Monitor: "api", Code: "yellow", ReplacesCode: "red"}}}}
	dir := f.TempDir()
	if _, err := Write(dir, good); err != nil {
		f.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"program":"cpra-agent","version":1,"shard":{"count":1},"enabled":"AQ=="}`))
	f.Add([]byte(`{"program":"cpra-agent","version":1,"shard":{"count":1},"monitors":[{"name":"x","state":"sideways"}]}`))
	work := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := work // one directory for every input: a fresh one each costs more than Read
		if err := os.WriteFile(filepath.Join(dir, FileName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := Read(dir, Shard{Count: 1})
		var aside *SetAsideError
		switch {
		case errors.As(err, &aside):
			if _, err := os.Stat(aside.MovedTo); err != nil {
				t.Fatalf("set aside, but not at %s: %v", aside.MovedTo, err)
			}
			_ = os.Remove(aside.MovedTo)
			return
		case err != nil:
			t.Fatalf("neither used nor set aside: %v", err)
		case f == nil:
			t.Fatal("no file and no error for an existing file")
		}
		for _, m := range f.Monitors {
			_, _ = m.Status()
		}
		for _, h := range f.Held {
			_, _ = h.Firing.Domain()
		}
		for _, p := range f.Pending {
			_, _ = p.Notification.Domain()
		}
		_ = HasHash(f.Enabled, 1)
	})
}
