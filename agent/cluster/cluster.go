package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/agent/config"
)

// rejoinEvery is how often a replica that found none of its peers tries
// again: the first replica of a StatefulSet starts before the others.
const rejoinEvery = 5 * time.Second

// Cluster is this replica's membership: memberlist's view of the live
// replicas, turned into a Ring whenever it changes.
type Cluster struct {
	// ml is set once Create returns; memberlist's goroutines may notify
	// before that.
	ml   atomic.Pointer[memberlist.Memberlist]
	self string
	log  *slog.Logger
	join []string

	mu   sync.Mutex
	ring *Ring
	live map[string]bool // joined and not gone: the ring's members
	// addrs are the members' addresses, copied in memberlist's callbacks
	// (under its lock): the Nodes it hands out change under it.
	addrs   map[string]memberlist.Node
	gone    map[string]string // members gone, and how: "dead" or "left"
	leaving map[string]bool   // members that announced a graceful leave
	// stepping is set when this replica leaves: its metadata tells the
	// peers, so they count it as left rather than dead.
	stepping  atomic.Bool
	onMessage func([]byte)
	changed   chan struct{} // signalled (not blocking) on every change of the ring
	stop      chan struct{}
	stopped   sync.WaitGroup
}

// Start binds the gossip address, joins the peers it can reach (retrying
// in the background until one answers) and registers cpra_cluster_members
// on reg.
func Start(cfg config.Cluster, logger *slog.Logger, reg prometheus.Registerer) (*Cluster, error) {
	host, port, err := splitHostPort(cfg.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("cluster.listen_address: %w", err)
	}
	advertise := cfg.AdvertiseAddress
	if advertise == "" {
		advertise = cfg.ListenAddress
	}
	advHost, advPort, err := splitHostPort(advertise)
	if err != nil {
		return nil, fmt.Errorf("cluster.advertise_address: %w", err)
	}
	name := cfg.Name
	if name == "" {
		if name, err = os.Hostname(); err != nil {
			return nil, fmt.Errorf("cluster.name: empty, and the host name is unknown: %w", err)
		}
	}
	c := &Cluster{
		self: name, log: logger.With("component", "cluster"), join: cfg.Join,
		live: map[string]bool{}, addrs: map[string]memberlist.Node{}, gone: map[string]string{}, leaving: map[string]bool{}, changed: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	mc := memberlist.DefaultLANConfig()
	mc.Name = name
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertiseAddr, mc.AdvertisePort = advHost, advPort
	mc.ProbeInterval, mc.ProbeTimeout = cfg.ProbeInterval, cfg.ProbeTimeout
	mc.SuspicionMult, mc.GossipInterval = cfg.SuspicionMult, cfg.GossipInterval
	mc.Events = &events{c}
	mc.Delegate = &delegate{c}
	mc.Logger = log.New(&memberlistLog{log: c.log}, "", 0)
	if cfg.SecretKeyFile != "" {
		key, err := os.ReadFile(cfg.SecretKeyFile)
		if err != nil {
			return nil, fmt.Errorf("cluster.secret_key_file: %w", err)
		}
		key = bytes.TrimSpace(key)
		if n := len(key); n != 16 && n != 24 && n != 32 {
			return nil, fmt.Errorf("cluster.secret_key_file %s: the key must be 16, 24 or 32 bytes (AES-128, 192 or 256), got %d", cfg.SecretKeyFile, n)
		}
		mc.SecretKey = key
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c.ml.Store(ml)
	if err := reg.Register(&membersCollector{c}); err != nil {
		_ = ml.Shutdown()
		return nil, err
	}
	if len(c.join) > 0 && !c.tryJoin() {
		c.stopped.Add(1)
		go c.rejoin()
	}
	c.log.Info("cluster started", "name", name, "advertise", advertise, "listen", cfg.ListenAddress, "join", strings.Join(cfg.Join, ","),
		"members", c.Ring().Len(), "encrypted", cfg.SecretKeyFile != "")
	return c, nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", p, err)
	}
	return host, port, nil
}

// tryJoin joins every peer it can reach; memberlist resolves a DNS name to
// all its addresses.
func (c *Cluster) tryJoin() bool {
	n, err := c.ml.Load().Join(c.join)
	if n > 0 {
		c.log.Info("joined the cluster", "peers_reached", n, "members", c.ml.Load().NumMembers())
		return true
	}
	c.log.Warn("no peer answered yet; retrying", "join", strings.Join(c.join, ","), "retry_in", rejoinEvery, "err", err)
	return false
}

func (c *Cluster) rejoin() {
	defer c.stopped.Done()
	t := time.NewTicker(rejoinEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if c.ml.Load().NumMembers() > 1 || c.tryJoin() {
				return // someone joined us, or we them
			}
		}
	}
}

// Self is this replica's name in the cluster.
func (c *Cluster) Self() string { return c.self }

// Ring is the current ring of live members (alive or suspected: a member
// keeps its monitors until it is declared dead, so a slow one does not
// have them checked twice).
func (c *Cluster) Ring() *Ring {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ring
}

// Changed is signalled whenever the ring changes; read Ring then.
func (c *Cluster) Changed() <-chan struct{} { return c.changed }

// rebuild makes the ring from the live members and signals a change when
// it differs from the last one. Callers hold c.mu. It must not call into
// memberlist: its notifications come with memberlist's own lock held.
func (c *Cluster) rebuild() {
	names := make([]string, 0, len(c.live))
	for name := range c.live {
		names = append(names, name)
	}
	r := NewRing(names)
	same := c.ring != nil && slicesEqual(c.ring.members, r.members)
	if !same {
		c.ring = r
	}
	if !same {
		select {
		case c.changed <- struct{}{}:
		default:
		}
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Leave tells the peers this replica is going, so they take its monitors
// at once instead of after the failure detector's timeout, then stops.
func (c *Cluster) Leave(ctx context.Context) error {
	timeout := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	c.stepping.Store(true)
	ml := c.ml.Load()
	err := ml.UpdateNode(timeout / 2) // "leaving" reaches the peers before the goodbye
	err = errors.Join(err, ml.Leave(timeout/2))
	return errors.Join(err, c.Shutdown())
}

// Shutdown stops gossiping without telling the peers.
func (c *Cluster) Shutdown() error {
	select {
	case <-c.stop:
		return nil
	default:
		close(c.stop)
	}
	c.stopped.Wait()
	return c.ml.Load().Shutdown()
}

// events receives memberlist's notifications (never concurrently, and
// with memberlist's lock held: nothing here may call into memberlist).
// The Node's State field is not kept up to date by memberlist; a graceful
// leave is told apart by the leaver's metadata.
type events struct{ c *Cluster }

func (e *events) NotifyJoin(n *memberlist.Node) {
	c := e.c
	c.mu.Lock()
	c.live[n.Name] = true
	c.addrs[n.Name] = memberlist.Node{Name: n.Name, Addr: slices.Clone(n.Addr), Port: n.Port}
	delete(c.gone, n.Name)
	delete(c.leaving, n.Name)
	c.rebuild()
	c.mu.Unlock()
	if n.Name != c.self {
		c.log.Info("member joined", "member", n.Name)
	}
}

func (e *events) NotifyLeave(n *memberlist.Node) {
	c := e.c
	c.mu.Lock()
	how := "dead"
	if c.leaving[n.Name] {
		how = "left"
	}
	delete(c.live, n.Name)
	delete(c.addrs, n.Name)
	delete(c.leaving, n.Name)
	c.gone[n.Name] = how
	c.rebuild()
	c.mu.Unlock()
	if how == "dead" {
		c.log.Warn("member failed: its monitors move to the others", "member", n.Name)
	} else {
		c.log.Info("member left: its monitors move to the others", "member", n.Name)
	}
}

func (e *events) NotifyUpdate(n *memberlist.Node) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.live[n.Name]; ok {
		c.addrs[n.Name] = memberlist.Node{Name: n.Name, Addr: slices.Clone(n.Addr), Port: n.Port}
	}
	if string(n.Meta) == metaLeaving {
		c.leaving[n.Name] = true
	}
}

// metaLeaving is the metadata of a replica on its way out.
const metaLeaving = "leaving"

// delegate gives memberlist this replica's metadata; it carries nothing
// else.
type delegate struct{ c *Cluster }

func (d *delegate) NodeMeta(int) []byte {
	if d.c.stepping.Load() {
		return []byte(metaLeaving)
	}
	return nil
}
func (d *delegate) NotifyMsg(b []byte) {
	d.c.mu.Lock()
	f := d.c.onMessage
	d.c.mu.Unlock()
	if f != nil {
		f(slices.Clone(b)) // memberlist reuses the buffer
	}
}
func (d *delegate) GetBroadcasts(int, int) [][]byte { return nil }
func (d *delegate) LocalState(bool) []byte          { return nil }
func (d *delegate) MergeRemoteState([]byte, bool)   {}

// memberlistLog passes memberlist's "[LEVEL] memberlist: ..." lines on
// to slog at their level.
type memberlistLog struct{ log *slog.Logger }

func (l *memberlistLog) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelDebug
	for prefix, lv := range map[string]slog.Level{"[ERR]": slog.LevelError, "[ERROR]": slog.LevelError, "[WARN]": slog.LevelWarn, "[INFO]": slog.LevelDebug} {
		if strings.HasPrefix(line, prefix) {
			level, line = lv, strings.TrimSpace(strings.TrimPrefix(line, prefix))
			break
		}
	}
	line = strings.TrimPrefix(strings.TrimPrefix(line, "[DEBUG]"), " ")
	l.log.Log(context.Background(), level, strings.TrimPrefix(line, "memberlist: "))
	return len(p), nil
}

var _ io.Writer = (*memberlistLog)(nil)

// membersCollector is cpra_cluster_members{state}, read at scrape time.
type membersCollector struct{ c *Cluster }

var descMembers = prometheus.NewDesc("cpra_cluster_members",
	"Replicas of the cluster this replica knows of, by state: alive (in the ring, including one the failure detector suspects but has not declared dead: it keeps its monitors), dead (declared failed: its monitors moved), left (stopped gracefully).",
	[]string{"state"}, nil)

func (m *membersCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descMembers }

func (m *membersCollector) Collect(ch chan<- prometheus.Metric) {
	count := map[string]int{"dead": 0, "left": 0}
	m.c.mu.Lock()
	count["alive"] = len(m.c.live)
	for _, how := range m.c.gone {
		count[how]++
	}
	m.c.mu.Unlock()
	for state, n := range count {
		ch <- prometheus.MustNewConstMetric(descMembers, prometheus.GaugeValue, float64(n), state)
	}
}

// OwnershipSeries are cpra_cluster_owned_monitors and
// cpra_cluster_ownership_changes_total.
type OwnershipSeries struct {
	owned     prometheus.GaugeFunc
	changes   *prometheus.CounterVec // {direction}
	handovers *prometheus.CounterVec // {result}
}

// NewOwnershipSeries registers the ownership series on reg; owned is read
// at every scrape.
func NewOwnershipSeries(reg prometheus.Registerer, owned func() int) (*OwnershipSeries, error) {
	s := &OwnershipSeries{
		owned: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "cpra_cluster_owned_monitors",
			Help: "Monitors this replica checks: its share of the file by rendezvous hashing over the live members.",
		}, func() float64 { return float64(owned()) }),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cpra_cluster_ownership_changes_total",
			Help: "Monitors this replica took over (direction gained) or handed to another (lost) when the members changed.",
		}, []string{"direction"}),
	}
	s.handovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cpra_cluster_handover_total",
		Help: "Incident state between replicas: messages sent to the peers that would take this replica's monitors over (result sent, failed), and monitors taken over with the incident state a peer had sent (adopted).",
	}, []string{"result"})
	for _, c := range []prometheus.Collector{s.owned, s.changes, s.handovers} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	s.changes.WithLabelValues("gained")
	s.changes.WithLabelValues("lost")
	for _, r := range []string{"sent", "failed", "adopted"} {
		s.handovers.WithLabelValues(r)
	}
	return s, nil
}

// Record counts one change of ownership.
func (s *OwnershipSeries) Record(gained, lost int) {
	s.changes.WithLabelValues("gained").Add(float64(gained))
	s.changes.WithLabelValues("lost").Add(float64(lost))
}

// Handover counts n handovers of a result.
func (s *OwnershipSeries) Handover(result string, n int) {
	s.handovers.WithLabelValues(result).Add(float64(n))
}

// Owns returns whether the replica named self owns a name on ring r.
func Owns(r *Ring, self string) func(name string) bool {
	i := r.Index(self)
	return func(name string) bool { return r.Owner(NameHash(name)) == i }
}

// Member is one replica as this one knows it.
type Member struct {
	Name  string
	State string // alive, dead or left
}

// Members lists every replica heard of, by name.
func (c *Cluster) Members() []Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Member, 0, len(c.live)+len(c.gone))
	for name := range c.live {
		out = append(out, Member{Name: name, State: "alive"})
	}
	for name, how := range c.gone {
		out = append(out, Member{Name: name, State: how})
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Send delivers msg to the named member over the gossip layer's reliable
// (TCP) channel, encrypted like the rest of the peers' traffic.
func (c *Cluster) Send(member string, msg []byte) error {
	c.mu.Lock()
	node, ok := c.addrs[member]
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("cluster: no live member %q", member)
	}
	// A copy of our own: memberlist changes the Nodes of Members() under
	// its lock, and SendReliable reads the one it is given without it.
	return c.ml.Load().SendReliable(&node, msg)
}

// OnMessage sets what receives the messages peers Send: called on
// memberlist's goroutine, it must not block.
func (c *Cluster) OnMessage(f func([]byte)) {
	c.mu.Lock()
	c.onMessage = f
	c.mu.Unlock()
}
