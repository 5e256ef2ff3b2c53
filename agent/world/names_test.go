package world

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/mlange-42/ark/ecs"

	"github.com/cpra-agent/cpra-agent/agent/config"
)

// indexFixture is a name index over a plain slice of names, so the index
// is tested alone: entity i (id i+1) is named names[i].
type indexFixture struct {
	x     nameIndex
	names map[ecs.Entity]string
	want  map[string]ecs.Entity
	w     *ecs.World
}

func newIndexFixture(capacity int) *indexFixture {
	return &indexFixture{x: newNameIndex(capacity), names: map[ecs.Entity]string{}, want: map[string]ecs.Entity{}, w: ecs.NewWorld()}
}

func (f *indexFixture) of(e ecs.Entity) string { return f.names[e] }

func (f *indexFixture) put(name string) {
	e := f.w.NewEntity()
	f.names[e] = name
	f.want[name] = e
	f.x.put(name, e, f.of)
}

func (f *indexFixture) del(t *testing.T, name string) {
	_, had := f.want[name]
	if got := f.x.del(name, f.of); got != had {
		t.Fatalf("del(%q) = %v, want %v", name, got, had)
	}
	delete(f.want, name)
}

func (f *indexFixture) check(t *testing.T, absent ...string) {
	t.Helper()
	if f.x.len() != len(f.want) {
		t.Fatalf("len %d, want %d", f.x.len(), len(f.want))
	}
	for name, e := range f.want {
		if got, ok := f.x.get(name, f.of); !ok || got != e {
			t.Fatalf("get(%q) = %v, %v; want %v", name, got, ok, e)
		}
	}
	for _, name := range absent {
		if _, ok := f.x.get(name, f.of); ok {
			t.Fatalf("get(%q) found a removed name", name)
		}
	}
	n := 0
	f.x.each(func(ecs.Entity) { n++ })
	if n != len(f.want) {
		t.Fatalf("each visited %d, want %d", n, len(f.want))
	}
	if len(f.x.slots) < f.x.n+f.x.n/3 {
		t.Fatalf("%d entries in %d slots: fuller than 3/4", f.x.n, len(f.x.slots))
	}
}

// TestNameIndexAgainstAMap drives the index with random puts and deletes
// (tiny tables, so runs wrap around the end and deletions shift entries
// back across it) and compares it with a map after every step.
func TestNameIndexAgainstAMap(t *testing.T) {
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 1))
		f := newIndexFixture(0)
		var removed []string
		for step := range 2000 {
			name := fmt.Sprintf("m%d", r.IntN(300))
			if _, ok := f.want[name]; ok && r.IntN(2) == 0 {
				f.del(t, name)
				removed = append(removed, name)
			} else if !ok {
				f.put(name)
			} else {
				f.del(t, "absent-"+name) // deleting what is not there changes nothing
			}
			if step%50 == 0 {
				f.check(t)
			}
		}
		var gone []string
		for _, n := range removed {
			if _, ok := f.want[n]; !ok {
				gone = append(gone, n)
			}
		}
		f.check(t, gone...)
	}
}

// TestNameIndexReplaces: putting a name again maps it to the new entity.
func TestNameIndexReplaces(t *testing.T) {
	f := newIndexFixture(4)
	f.put("a")
	f.put("a")
	f.check(t)
	if f.x.len() != 1 {
		t.Fatalf("len %d after putting the same name twice", f.x.len())
	}
}

// TestNameIndexShrinks: a fleet that shrank gives its memory back; a
// capacity hint is kept while the fleet grows into it.
func TestNameIndexShrinks(t *testing.T) {
	f := newIndexFixture(1000)
	hinted := len(f.x.slots)
	f.put("first")
	if len(f.x.slots) != hinted {
		t.Fatalf("one put rebuilt the hinted table: %d slots, was %d", len(f.x.slots), hinted)
	}
	for i := range 5000 {
		f.put(fmt.Sprint("m", i))
	}
	grown := len(f.x.slots)
	for i := range 4990 {
		f.del(t, fmt.Sprint("m", i))
	}
	f.x.shrink()
	if len(f.x.slots) >= grown/8 {
		t.Fatalf("shrink kept %d slots for %d entries (had %d)", len(f.x.slots), f.x.len(), grown)
	}
	f.check(t, "m0", "m4989")
}

// TestTextArena: texts come back as written, across chunk boundaries and
// for a text larger than a chunk; and a string handed out before the world
// compacted its arena still reads the same.
func TestTextArena(t *testing.T) {
	var a textArena
	type ref struct {
		at         uint32
		name, addr string
	}
	var refs []ref
	big := strings.Repeat("x", chunkSize+10)
	for i := range 40_000 {
		name, addr := fmt.Sprintf("svc-%d", i), fmt.Sprintf("http://10.0.%d.%d/health", i/256%256, i%256)
		if i == 20_000 {
			addr = big
		}
		refs = append(refs, ref{a.add(name, addr), name, addr})
	}
	if len(a.chunks) < 3 {
		t.Fatalf("%d chunks: the test did not cross chunk boundaries", len(a.chunks))
	}
	for _, r := range refs {
		if got := a.text(r.at, 0, uint32(len(r.name))); got != r.name {
			t.Fatalf("name %q, want %q", got, r.name)
		}
		if got := a.text(r.at, uint32(len(r.name)), uint32(len(r.addr))); got != r.addr {
			t.Fatalf("address of %s: %d bytes, want %d", r.name, len(got), len(r.addr))
		}
	}
}

// TestWorldCompactsText: reloads that change every address leave garbage
// text behind; the world compacts it away and every name and address still
// reads right, including strings handed out before the compaction.
func TestWorldCompactsText(t *testing.T) {
	w, err := New(t0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var fx Effects
	const n = 30_000
	file := func(gen int) []config.Monitor {
		ms := make([]config.Monitor, n)
		for i := range ms {
			ms[i] = monitor(fmt.Sprintf("svc-%05d", i), func(m *config.Monitor) {
				m.Pulse.Address = fmt.Sprintf("http://gen%d.example/%05d/health", gen, i)
			})
			ms[i].Source = uint64(gen)<<32 | uint64(i)
		}
		return ms
	}
	w.Apply(file(0), t0, &fx)
	before, ok := w.Lookup("svc-00007")
	if !ok {
		t.Fatal("svc-00007 not found")
	}
	compacted := false
	for gen := 1; gen <= 6; gen++ {
		chunks := len(w.text.chunks)
		st := w.Apply(file(gen), t0.Add(time.Duration(gen)*time.Second), &fx)
		if st.Updated != n {
			t.Fatalf("generation %d: %+v, want every monitor updated", gen, st)
		}
		if len(w.text.chunks) < chunks {
			compacted = true
		}
		for _, i := range []int{0, 7, n / 2, n - 1} {
			v, ok := w.Lookup(fmt.Sprintf("svc-%05d", i))
			want := fmt.Sprintf("http://gen%d.example/%05d/health", gen, i)
			if !ok || v.Address != want {
				t.Fatalf("generation %d: svc-%05d has address %q (found %v), want %q", gen, i, v.Address, ok, want)
			}
		}
	}
	if !compacted {
		t.Fatalf("six full rewrites of the addresses never compacted the text (%d chunks, %d of %d bytes garbage)",
			len(w.text.chunks), w.text.garbage, w.text.used)
	}
	if w.text.garbage > w.text.used-w.text.garbage+chunkSize {
		t.Fatalf("garbage %d bytes against %d live after compaction", w.text.garbage, w.text.used-w.text.garbage)
	}
	if before.Name != "svc-00007" || before.Address != "http://gen0.example/00007/health" {
		t.Fatalf("a string handed out before compaction changed: %q %q", before.Name, before.Address)
	}
	w.Apply(nil, t0.Add(time.Minute), &fx)
	if w.Len() != 0 || w.text.used-w.text.garbage != 0 {
		t.Fatalf("after removing everything: %d monitors, %d live text bytes", w.Len(), w.text.used-w.text.garbage)
	}
}

// TestReloadKeepsTheNameIndexSize: reloading the same file neither grows
// the name index (it is sized for the file, not for old plus new) nor
// rebuilds it.
func TestReloadKeepsTheNameIndexSize(t *testing.T) {
	w, err := New(t0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ms := make([]config.Monitor, 5000)
	for i := range ms {
		ms[i] = monitor(fmt.Sprintf("svc-%04d", i))
	}
	var fx Effects
	w.Apply(ms, t0, &fx)
	slots := len(w.names.slots)
	for i := range 3 {
		if st := w.Apply(ms, t0.Add(time.Duration(i+1)*time.Second), &fx); st.Unchanged != len(ms) {
			t.Fatalf("reload %d: %+v", i, st)
		}
		if len(w.names.slots) != slots {
			t.Fatalf("reload %d of the same file: name index %d slots, was %d", i, len(w.names.slots), slots)
		}
	}
}
