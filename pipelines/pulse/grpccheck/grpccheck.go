package grpccheck

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/cpra-agent/cpra-agent/internal/certs"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
)

// Kind registers the grpc check.
var Kind = pulse.Kind{Name: "grpc", AddressKeys: []string{"host", "port", "address"}, Parse: parseProber}

type config struct {
	Host             string         `yaml:"host"`
	Port             string         `yaml:"port"`
	Address          string         `yaml:"address"`
	Service          string         `yaml:"service"`
	TLS              bool           `yaml:"tls"`
	TLSConfig        certs.Config   `yaml:"tls_config"`
	TLSExpiryWarning *spec.Duration `yaml:"tls_expiry_warning"`
	Retries          int            `yaml:"retries"`
}

type prober struct {
	service string
	tls     bool
	tlsBase *tls.Config
	warning time.Duration
	retries int

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn // by address
}

func parseProber(b spec.Block) (any, string, error) {
	var c config
	if err := b.Decode(&c); err != nil {
		return nil, "", err
	}
	addr, errs := pulse.HostPort(b, c.Host, c.Port, c.Address)
	if c.Retries < 0 {
		errs = append(errs, b.Errorf("retries", "must be 0 or more, got %d", c.Retries))
	}
	if !c.TLS && (b.Has("tls_config") || b.Has("tls_expiry_warning")) {
		errs = append(errs, b.Errorf("tls_config", "needs tls: true"))
	}
	tlsBase, err := c.TLSConfig.Build(b)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, "", err
	}
	return &prober{service: c.Service, tls: c.TLS, tlsBase: tlsBase, warning: certs.Warning(c.TLSExpiryWarning),
		retries: c.Retries, conns: map[string]*grpc.ClientConn{}}, addr, nil
}

// conn returns the connection to address, dialling it the first time
// (grpc dials lazily: nothing is sent until the first call).
func (p *prober) conn(address string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.conns[address]; c != nil {
		return c, nil
	}
	creds := insecure.NewCredentials()
	if p.tls {
		host, _, _ := net.SplitHostPort(address)
		creds = credentials.NewTLS(certs.For(p.tlsBase, host))
	}
	c, err := grpc.NewClient(address, grpc.WithTransportCredentials(creds), grpc.WithUserAgent("cpra-agent"))
	if err != nil {
		return nil, err
	}
	p.conns[address] = c
	return c, nil
}

// Probe calls Health/Check up to 1+retries times within ctx's deadline.
func (p *prober) Probe(ctx context.Context, t pulse.Target) pulse.Result {
	c, err := p.conn(t.Address)
	if err != nil {
		return pulse.Failf("grpc %s: %v", t.Address, err)
	}
	client := healthpb.NewHealthClient(c)
	return pulse.Retry(ctx, p.retries, func(ctx context.Context) pulse.Result {
		var pr peer.Peer
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: p.service}, grpc.Peer(&pr), grpc.WaitForReady(false))
		var expiry int64
		if info, ok := pr.AuthInfo.(credentials.TLSInfo); ok {
			earliest, failure := certs.Expiry(&info.State, p.warning, time.Now())
			expiry = certs.Unix(earliest)
			if failure != "" && err == nil {
				r := pulse.Failf("%s", failure)
				r.CertExpiry = expiry
				return r
			}
		}
		r := p.judge(t.Address, resp, err)
		r.CertExpiry = expiry
		return r
	})
}

// judge turns the call's outcome into a result.
func (p *prober) judge(address string, resp *healthpb.HealthCheckResponse, err error) pulse.Result {
	name := p.service
	if name == "" {
		name = `"" (the server)`
	}
	if err != nil {
		st := status.Convert(err)
		r := pulse.Failf("grpc %s: health of %s: %s: %s", address, name, st.Code(), st.Message())
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded:
			r.Unreachable = true // nothing answered the call
		case codes.Unimplemented:
			r.Reason = fmt.Sprintf("grpc %s: the server does not implement grpc.health.v1.Health", address)
		case codes.NotFound:
			r.Reason = fmt.Sprintf("grpc %s: unknown service %s", address, name)
		}
		return r
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return pulse.Failf("grpc %s: %s is %s", address, name, s)
	}
	return pulse.Result{OK: true}
}
