package cluster

import (
	"testing"

	"github.com/cpra-agent/cpra-agent/agent/state"
)

// Each monitor's state goes to its successor, the member that owns it
// once this one is gone; every other member gets an empty set, which
// replaces what it held from this one; a taken-up monitor is forgotten.
func TestHandoverGoesToTheSuccessor(t *testing.T) {
	r := NewRing([]string{"a", "b", "c"})
	f := &state.File{}
	var mine []string
	for _, h := range names(200) {
		name := string(rune('A'+h%26)) + string(rune('a'+h/26%26)) + string(rune('0'+h%10))
		if r.OwnerName(name) == "a" && len(mine) < 10 {
			mine = append(mine, name)
			f.Monitors = append(f.Monitors, state.Monitor{Name: name, State: "down"})
			f.Open = append(f.Open, state.OpenIncident{Monitor: name, ID: h})
		}
	}
	parts := Split(f, r, "a", Successor(r, "a"))
	if len(parts) != 2 || parts["a"] != nil {
		t.Fatalf("parts for %d members, want b and c only", len(parts))
	}
	without := NewRing([]string{"b", "c"})
	got := 0
	for member, part := range parts {
		for _, m := range part.Monitors {
			got++
			if owner := without.OwnerName(m.Name); owner != member {
				t.Errorf("%s went to %s; without a it belongs to %s", m.Name, member, owner)
			}
		}
	}
	if got != len(mine) {
		t.Fatalf("%d monitors handed over, want %d", got, len(mine))
	}

	s := NewStandby()
	for member, part := range parts {
		msg, err := EncodeHandover("a", part)
		if err != nil {
			t.Fatal(err)
		}
		if member == "b" {
			if err := s.Receive(msg); err != nil {
				t.Fatal(err)
			}
		}
	}
	held := len(s.All().Monitors)
	if held != len(parts["b"].Monitors) {
		t.Fatalf("b holds %d, was sent %d", held, len(parts["b"].Monitors))
	}
	empty, _ := EncodeHandover("a", &state.File{})
	_ = s.Receive(empty)
	if len(s.All().Monitors) != 0 {
		t.Error("a's empty set did not replace what it sent before")
	}
	msg, _ := EncodeHandover("a", parts["b"])
	_ = s.Receive(msg)
	if held > 0 {
		s.Forget([]string{parts["b"].Monitors[0].Name})
		if len(s.All().Monitors) != held-1 {
			t.Error("a taken-up monitor was not forgotten")
		}
	}
	if err := s.Receive([]byte("{")); err == nil {
		t.Error("a broken message was accepted")
	}
}
