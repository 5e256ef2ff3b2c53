package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// FileName is the state file in the state directory.
const FileName = "state.json"

// Version is the format Write writes and Read accepts.
const Version = 1

const program = "cpra-agent"

// File is the content of state.json.
type File struct {
	Program string    `json:"program"` // "cpra-agent": a file another program wrote is set aside
	Version int       `json:"version"`
	Shard   Shard     `json:"shard"`
	Written time.Time `json:"written"`

	Monitors []Monitor `json:"monitors"`
	// Enabled are the FNV-64a hashes of the names of the monitors that were
	// enabled, sorted and little-endian (base64 in the JSON; see Hashes).
	Enabled []byte `json:"enabled"`
	// EnabledHashes, when set, are packed into Enabled by Write, so the
	// sort happens off the snapshot's goroutine.
	EnabledHashes []uint64       `json:"-"`
	Held          []Held         `json:"held,omitempty"`
	Pending       []Pending      `json:"pending,omitempty"`
	Open          []OpenIncident `json:"incidents,omitempty"`
}

// Shard is the shard that wrote the file: another shard's state is not ours.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Monitor is one monitor's incident state.
type Monitor struct {
	Name          string `json:"name"`
	State         string `json:"state"`
	Fails         uint16 `json:"fails,omitempty"`
	Successes     uint16 `json:"successes,omitempty"`
	Guarded       bool   `json:"guarded,omitempty"`
	Interventions uint8  `json:"interventions,omitempty"`
	WindowStart   uint32 `json:"window_start,omitempty"` // unix seconds
}

// OpenIncident is an open incident of a monitor.
type OpenIncident struct {
	Monitor string    `json:"monitor"`
	ID      uint64    `json:"id"`
	Start   time.Time `json:"start"`
	TraceID string    `json:"trace_id,omitempty"`
	SpanID  string    `json:"span_id,omitempty"`
}

// Held is a firing code a receiver holds for a subject (a monitor, a host
// code, a relayed alert).
type Held struct {
	Subject     string       `json:"subject"`
	About       string       `json:"about,omitempty"` // host, alert; empty for a monitor
	Destination string       `json:"destination"`
	Code        string       `json:"code"`
	At          time.Time    `json:"at"`   // the alert's start
	Sent        time.Time    `json:"sent"` // last sent there
	Firing      Notification `json:"firing"`
}

// Pending is a code not yet delivered to a destination.
type Pending struct {
	Destination  string       `json:"destination"`
	First        time.Time    `json:"first"`
	Attempts     int          `json:"attempts"`
	Notification Notification `json:"notification"`
}

// Notification is a domain.Notification as stored.
type Notification struct {
	Time         time.Time         `json:"time"`
	Monitor      string            `json:"monitor"`
	About        string            `json:"about,omitempty"` // host, alert; empty for a monitor
	Code         string            `json:"code"`
	State        string            `json:"state,omitempty"`
	Message      string            `json:"message,omitempty"`
	Groups       []string          `json:"groups,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Incident     uint64            `json:"incident,omitempty"`
	ReplacesCode string            `json:"replaces_code,omitempty"`
	ReplacesAt   time.Time         `json:"replaces_at,omitzero"`
	TraceID      string            `json:"trace_id,omitempty"`
	SpanID       string            `json:"span_id,omitempty"`
}

// Hashes packs sorted name hashes for File.Enabled.
func Hashes(h []uint64) []byte {
	slices.Sort(h)
	out := make([]byte, 8*len(h))
	for i, v := range h {
		binary.LittleEndian.PutUint64(out[8*i:], v)
	}
	return out
}

// HasHash reports whether the packed sorted hashes hold h.
func HasHash(packed []byte, h uint64) bool {
	lo, hi := 0, len(packed)/8
	for lo < hi {
		mid := (lo + hi) / 2
		switch v := binary.LittleEndian.Uint64(packed[8*mid:]); {
		case v == h:
			return true
		case v < h:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return false
}

// Write replaces dir/state.json with f, atomically, and returns its size.
func Write(dir string, f *File) (int, error) {
	f.Program, f.Version = program, Version
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return 0, fmt.Errorf("encode the state: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return 0, fmt.Errorf("state directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, FileName+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("state directory: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	_, err = tmp.Write(buf.Bytes())
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, FileName))
	}
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", filepath.Join(dir, FileName), err)
	}
	// The rename is durable once the directory is.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return buf.Len(), nil
}

// readRegular reads path if it is a regular file; anything else (a named
// pipe would block the start for ever) is a reason to set it aside.
func readRegular(path string) (data []byte, reason, err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	if reason := regular(f); reason != nil {
		return nil, reason, nil
	}
	data, err = io.ReadAll(f)
	return data, nil, err
}

// SetAsideError says why a state file was not used and where it went.
type SetAsideError struct {
	Path, MovedTo string
	Reason        error
}

func (e *SetAsideError) Error() string {
	return fmt.Sprintf("state file %s not used (%v); moved to %s", e.Path, e.Reason, e.MovedTo)
}

func (e *SetAsideError) Unwrap() error { return e.Reason }

// Read loads dir/state.json written by shard. A missing file is (nil,
// nil). A file that does not parse, that another program or another shard
// wrote, or of an unknown version is renamed aside and reported as a
// *SetAsideError: the agent starts without it.
func Read(dir string, shard Shard) (*File, error) {
	path := filepath.Join(dir, FileName)
	data, reason, err := readRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the state: %w", err)
	}
	var f File
	if reason == nil {
		reason = json.NewDecoder(bytes.NewReader(data)).Decode(&f)
		if reason != nil {
			reason = fmt.Errorf("does not parse: %w", reason)
		}
	}
	switch {
	case reason != nil:
	case f.Program != program:
		reason = fmt.Errorf("written by %q, not %s", f.Program, program)
	case f.Version != Version:
		reason = fmt.Errorf("format version %d, this agent reads %d", f.Version, Version)
	case f.Shard != shard:
		reason = fmt.Errorf("written by shard %d of %d, this agent is shard %d of %d", f.Shard.Index, f.Shard.Count, shard.Index, shard.Count)
	case len(f.Enabled)%8 != 0:
		reason = errors.New("enabled: not a list of 8-byte hashes")
	}
	if reason == nil {
		return &f, nil
	}
	moved := fmt.Sprintf("%s.bad-%s", path, time.Now().UTC().Format("20060102T150405Z"))
	if err := os.Rename(path, moved); err != nil {
		return nil, fmt.Errorf("state file %s not used (%v), and it could not be moved aside: %w", path, reason, err)
	}
	return nil, &SetAsideError{Path: path, MovedTo: moved, Reason: reason}
}
