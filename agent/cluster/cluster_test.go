package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/internal/freeport"
	"github.com/cpra-agent/cpra-agent/internal/testmetrics"
	"github.com/cpra-agent/cpra-agent/internal/testwait"
)

// freeAddr returns a loopback host:port free for both TCP and UDP.
func freeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeport.TCPAndUDP("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// fast are timings that declare a dead member within a second or two.
func fast(listen string, join ...string) config.Cluster {
	return config.Cluster{ListenAddress: listen, Name: "replica-" + listen, Join: join, ProbeInterval: 100 * time.Millisecond,
		ProbeTimeout: 50 * time.Millisecond, SuspicionMult: 2, GossipInterval: 50 * time.Millisecond}
}

func start(t *testing.T, cfg config.Cluster) (*Cluster, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	c, err := Start(cfg, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c, reg
}

// Three replicas on loopback find each other through one seed, agree on
// the ring, and drop a member that stops answering; one that leaves is
// counted as left.
func TestMembership(t *testing.T) {
	seed := freeAddr(t)
	a, regA := start(t, fast(seed))
	b, _ := start(t, fast(freeAddr(t), seed))
	c, _ := start(t, fast(freeAddr(t), seed))
	for _, m := range []*Cluster{a, b, c} {
		testwait.Until(t, m.Self()+" to see three members", func() bool { return m.Ring().Len() == 3 })
	}
	for _, h := range names(1000) {
		if a.Ring().Owner(h) != b.Ring().Owner(h) || b.Ring().Owner(h) != c.Ring().Owner(h) {
			t.Fatal("the replicas disagree on an owner")
		}
	}
	<-a.Changed() // drain: the next signal is the next change
	if got := testmetrics.Value(t, regA, "cpra_cluster_members", "state", "alive"); got != 3 {
		t.Fatalf("cpra_cluster_members{state=alive} = %v, want 3", got)
	}

	_ = c.Shutdown() // killed: no goodbye
	testwait.Until(t, "c declared dead", func() bool { return a.Ring().Len() == 2 && b.Ring().Len() == 2 })
	select {
	case <-a.Changed():
	default:
		t.Error("no change signalled when c died")
	}
	if a.Ring().Index(c.Self()) >= 0 {
		t.Error("a dead member is still in the ring")
	}
	if got := testmetrics.Value(t, regA, "cpra_cluster_members", "state", "dead"); got != 1 {
		t.Errorf("cpra_cluster_members{state=dead} = %v, want 1", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	testwait.Until(t, "b gone from a's ring", func() bool { return a.Ring().Len() == 1 })
	if got := testmetrics.Value(t, regA, "cpra_cluster_members", "state", "left"); got != 1 {
		t.Errorf("cpra_cluster_members{state=left} = %v, want 1", got)
	}
}

// A replica whose peers are not up yet keeps trying, and joins when one
// starts.
func TestJoinRetries(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a retry")
	}
	later := freeAddr(t)
	a, _ := start(t, fast(freeAddr(t), later))
	b, _ := start(t, fast(later))
	testwait.Until(t, "a to join b once b is up", func() bool { return a.Ring().Len() == 2 && b.Ring().Len() == 2 })
}

// Peer traffic is encrypted with the key file; a replica without the key
// cannot join.
func TestEncryption(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	seedAddr := freeAddr(t)
	seedCfg := fast(seedAddr)
	seedCfg.SecretKeyFile = key
	seed, _ := start(t, seedCfg)
	peerCfg := fast(freeAddr(t), seedAddr)
	peerCfg.SecretKeyFile = key
	peer, _ := start(t, peerCfg)
	testwait.Until(t, "the keyed peer to join", func() bool { return seed.Ring().Len() == 2 && peer.Ring().Len() == 2 })

	reg := prometheus.NewRegistry()
	stranger, err := Start(fast(freeAddr(t)), slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Shutdown()
	if n, err := stranger.ml.Load().Join([]string{seedAddr}); err == nil && n > 0 {
		t.Fatalf("a replica without the key joined (%d)", n)
	}
	if seed.Ring().Len() != 2 {
		t.Errorf("the keyed cluster has %d members, want 2", seed.Ring().Len())
	}

	short := filepath.Join(t.TempDir(), "short")
	_ = os.WriteFile(short, []byte("tooshort"), 0o600)
	bad := fast(freeAddr(t))
	bad.SecretKeyFile = short
	if _, err := Start(bad, slog.New(slog.DiscardHandler), prometheus.NewRegistry()); err == nil ||
		err.Error() != fmt.Sprintf("cluster.secret_key_file %s: the key must be 16, 24 or 32 bytes (AES-128, 192 or 256), got 8", short) {
		t.Errorf("a short key: %v", err)
	}
}
