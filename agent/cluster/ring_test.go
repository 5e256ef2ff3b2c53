package cluster

import (
	"fmt"
	"hash/fnv"
	"testing"
)

func names(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = NameHash(fmt.Sprintf("svc-%07d", i))
	}
	return out
}

// Every member wins about 1/N of the monitors.
func TestRingBalances(t *testing.T) {
	r := NewRing([]string{"10.0.0.4:7946", "10.0.0.1:7946", "10.0.0.3:7946", "10.0.0.2:7946"})
	hs := names(100_000)
	count := make([]int, r.Len())
	for _, h := range hs {
		count[r.Owner(h)]++
	}
	for i, c := range count {
		// 25,000 expected; the binomial's standard deviation is 137.
		if c < 24_000 || c > 26_000 {
			t.Errorf("%s owns %d of 100,000, want about 25,000", r.members[i], c)
		}
	}
}

// A leave moves exactly the monitors the leaver owned, a join exactly
// those the newcomer wins; nothing else moves.
func TestRingMovesOnlyWhatItMust(t *testing.T) {
	four := NewRing([]string{"a", "b", "c", "d"})
	three := NewRing([]string{"a", "b", "c"})
	hs := names(100_000)
	moved := 0
	for _, h := range hs {
		before, after := four.members[four.Owner(h)], three.members[three.Owner(h)]
		if before != after {
			moved++
			if before != "d" {
				t.Fatalf("a monitor of %s moved to %s when d left", before, after)
			}
		}
	}
	if moved < 24_000 || moved > 26_000 {
		t.Errorf("d leaving moved %d of 100,000, want about a quarter", moved)
	}
}

// Every replica computes the same owner from the same members, whatever
// order it heard of them in; the order of preference starts with the owner.
func TestRingAgreesAndOrders(t *testing.T) {
	a := NewRing([]string{"x", "y", "z"})
	b := NewRing([]string{"z", "x", "y", "x"})
	for _, h := range names(1000) {
		if a.members[a.Owner(h)] != b.members[b.Owner(h)] {
			t.Fatal("two rings of the same members disagree")
		}
		order := a.Order(h, 3)
		if len(order) != 3 || order[0] != a.members[a.Owner(h)] {
			t.Fatalf("order %v does not start with the owner %s", order, a.members[a.Owner(h)])
		}
		// The second in line owns the monitor once the first is gone.
		var rest []string
		for _, m := range a.members {
			if m != order[0] {
				rest = append(rest, m)
			}
		}
		r2 := NewRing(rest)
		if r2.members[r2.Owner(h)] != order[1] {
			t.Fatalf("without %s the owner is %s, want the second in line %s", order[0], r2.members[r2.Owner(h)], order[1])
		}
	}
	if NewRing(nil).Owner(1) != -1 || NewRing(nil).OwnerName("a") != "" {
		t.Error("an empty ring owns something")
	}
}

// BenchmarkOwners_1M assigns a million monitors over four members: the
// cost of recomputing ownership after a membership change.
func BenchmarkOwners_1M(b *testing.B) {
	hs := names(1_000_000)
	r := NewRing([]string{"127.0.0.1:7946", "127.0.0.2:7946", "127.0.0.3:7946", "127.0.0.4:7946"})
	b.ResetTimer()
	for range b.N {
		n := 0
		for _, h := range hs {
			if r.Owner(h) == 0 {
				n++
			}
		}
		if n == 0 {
			b.Fatal("member 0 owns nothing")
		}
	}
}

// NameHash is FNV-1a: replicas of different builds must agree.
func TestNameHashIsFNV1a(t *testing.T) {
	for _, name := range []string{"", "a", "svc-0000001", "host:10.0.0.1"} {
		h := fnv.New64a()
		h.Write([]byte(name))
		if NameHash(name) != h.Sum64() {
			t.Errorf("NameHash(%q) = %x, want FNV-1a %x", name, NameHash(name), h.Sum64())
		}
	}
}
