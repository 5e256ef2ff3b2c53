package agent

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cpra-agent/cpra-agent/agent/cluster"
	"github.com/cpra-agent/cpra-agent/agent/config"
)

// followCluster makes the owner check this replica's share of the monitors
// and follows the ring as members come and go, until ctx ends. The first
// share is set before it returns, so no monitor is checked by every
// replica at start.
func (a *Agent) followCluster(ctx context.Context, cl *cluster.Cluster, series *cluster.OwnershipSeries) error {
	apply := func() error {
		r := cl.Ring()
		start := time.Now()
		own, err := a.owner.SetOwnership(ctx, cluster.Owns(r, cl.Self()))
		if err != nil {
			return err
		}
		series.Record(own.Gained, own.Lost)
		a.log.Info("cluster ownership", "members", r.Len(), "owned", own.Owned, "gained", own.Gained, "lost", own.Lost,
			"duration", time.Since(start).Round(time.Millisecond))
		return nil
	}
	if err := apply(); err != nil {
		return err
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-cl.Changed():
				if err := apply(); err != nil {
					return // the owner stopped
				}
			}
		}
	}()
	return nil
}

// startCluster joins the cluster and has a follow it. When ctx ends (a
// SIGTERM) the replica leaves at once, so the peers take its monitors
// over while it drains rather than after the failure detector's timeout.
func startCluster(ctx context.Context, cfg config.Agent, a *Agent, reg prometheus.Registerer, log *slog.Logger) (*cluster.Cluster, error) {
	series, err := cluster.NewOwnershipSeries(reg, a.owner.Owned)
	if err != nil {
		return nil, err
	}
	cl, err := cluster.Start(cfg.Cluster, log, reg)
	if err != nil {
		return nil, err
	}
	a.cluster.Store(cl)
	if err := a.followCluster(ctx, cl, series); err != nil {
		_ = cl.Shutdown()
		return nil, err
	}
	context.AfterFunc(ctx, func() {
		leaveCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := cl.Leave(leaveCtx); err != nil {
			log.Warn("leaving the cluster", "err", err)
		} else {
			log.Info("left the cluster: the peers take this replica's monitors")
		}
	})
	return cl, nil
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
