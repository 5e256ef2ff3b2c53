package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/agent/cluster"
	"github.com/cpra-agent/cpra-agent/agent/config"
)

// replicateEvery is how often a replica sends the incident state of its
// monitors to their successors: what a SIGKILL can lose.
const replicateEvery = 2 * time.Second

// clustering is an agent's part in a cluster.
type clustering struct {
	cfg     config.Cluster
	cl      *cluster.Cluster
	series  *cluster.OwnershipSeries
	standby *cluster.Standby
}

// hold is how long a replica waits before it runs an intervention of a
// monitor it took over: the longest the failure detector takes to declare
// a member dead among members (memberlist's suspicion timeout, which
// grows to six times its floor while few peers confirm), plus a probe.
func (c *clustering) hold(members int) time.Duration {
	scale := math.Max(1, math.Log10(float64(max(members, 1))))
	suspicion := time.Duration(float64(c.cfg.SuspicionMult) * scale * float64(c.cfg.ProbeInterval))
	return 6*suspicion + c.cfg.ProbeInterval
}

// followCluster makes the owner check this replica's share of the monitors
// and follows the ring as members come and go, until ctx ends, taking up
// the incidents the peers handed over for the monitors it gains. The first
// share is set before it returns, so no monitor is checked by every
// replica at start.
func (a *Agent) followCluster(ctx context.Context, c *clustering) error {
	apply := func() error {
		r := c.cl.Ring()
		start := time.Now()
		own, err := a.owner.SetOwnership(ctx, cluster.Owns(r, c.cl.Self()), c.hold(r.Len()), c.standby.All())
		if err != nil {
			return err
		}
		c.standby.Forget(own.AdoptedNames)
		c.series.Record(own.Gained, own.Lost)
		c.series.Handover("adopted", own.Adopted)
		a.log.Info("cluster ownership", "members", r.Len(), "owned", own.Owned, "gained", own.Gained, "lost", own.Lost,
			"incidents_taken_over", own.Adopted, "duration", time.Since(start).Round(time.Millisecond))
		return nil
	}
	if err := apply(); err != nil {
		return err
	}
	go func() {
		t := time.NewTicker(replicateEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-c.cl.Changed():
				if apply() != nil {
					return // the owner stopped
				}
				a.replicate(ctx, c)
			case <-t.C:
				a.replicate(ctx, c)
			}
		}
	}()
	return nil
}

// replicate sends each peer the incident state of the monitors it would
// take over from this replica.
func (a *Agent) replicate(ctx context.Context, c *clustering) {
	f, err := a.owner.Handover(ctx)
	if err != nil {
		return // stopping
	}
	r, self := c.cl.Ring(), c.cl.Self()
	for member, part := range cluster.Split(f, r, self, cluster.Successor(r, self)) {
		msg, err := cluster.EncodeHandover(self, part)
		if err == nil {
			err = c.cl.Send(member, msg)
		}
		if err != nil {
			c.series.Handover("failed", 1)
			a.log.Warn("cluster: incident state not sent; the next round tries again", "member", member, "err", err)
			continue
		}
		c.series.Handover("sent", 1)
	}
}

// startCluster joins the cluster and has a follow it. It returns leave,
// which hands the incidents over one last time and leaves the cluster, so
// the peers take this replica's monitors over while it drains rather than
// after the failure detector's timeout; call it while the owner still
// runs.
func startCluster(ctx context.Context, cfg config.Agent, a *Agent, reg prometheus.Registerer, log *slog.Logger) (leave func(), err error) {
	series, err := cluster.NewOwnershipSeries(reg, a.owner.Owned)
	if err != nil {
		return nil, err
	}
	cl, err := cluster.Start(cfg.Cluster, log, reg)
	if err != nil {
		return nil, err
	}
	c := &clustering{cfg: cfg.Cluster, cl: cl, series: series, standby: cluster.NewStandby()}
	cl.OnMessage(func(msg []byte) {
		if err := c.standby.Receive(msg); err != nil {
			log.Warn("cluster: a peer's incident state does not decode", "err", err)
		}
	})
	a.cluster.Store(cl)
	if err := a.followCluster(ctx, c); err != nil {
		_ = cl.Shutdown()
		return nil, err
	}
	return func() {
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a.replicate(hctx, c)
		if err := cl.Leave(hctx); err != nil {
			log.Warn("leaving the cluster", "err", err)
			return
		}
		log.Info("left the cluster: the peers take this replica's monitors and its incidents")
	}, nil
}

// clusterView serves GET /api/v1/cluster: the replicas this one knows of,
// their state, and how many monitors each checks by the current ring.
func (a *Agent) clusterView(w http.ResponseWriter, r *http.Request) {
	type member struct {
		Name     string `json:"name"`
		State    string `json:"state"`
		Monitors int    `json:"monitors"` // its share by the ring; 0 when not alive
		Self     bool   `json:"self,omitempty"`
	}
	view := struct {
		Enabled  bool     `json:"enabled"`
		Self     string   `json:"self,omitempty"`
		Monitors int      `json:"monitors"` // checked by this replica
		Members  []member `json:"members"`
	}{Members: []member{}}
	cl := a.cluster.Load()
	if cl == nil {
		view.Monitors = a.owner.Owned()
		writeJSON(w, view)
		return
	}
	ring := cl.Ring()
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	shares, err := a.owner.Shares(ctx, func(name string) int { return ring.Owner(cluster.NameHash(name)) }, ring.Len())
	if err != nil {
		http.Error(w, "the owner did not answer: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	view.Enabled, view.Self, view.Monitors = true, cl.Self(), a.owner.Owned()
	for _, m := range cl.Members() {
		v := member{Name: m.Name, State: m.State, Self: m.Name == cl.Self()}
		if i := ring.Index(m.Name); i >= 0 {
			v.Monitors = shares[i]
		}
		view.Members = append(view.Members, v)
	}
	writeJSON(w, view)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
