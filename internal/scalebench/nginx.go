package scalebench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Nginx is one nginx master with one worker, listening on the same port of
// several loopback addresses and answering 200 to everything.
type Nginx struct {
	Addrs []string // host:port, one per loopback address
	cmd   *exec.Cmd
	done  chan error
}

// NginxBinary is where Debian's nginx-light installs nginx.
const NginxBinary = "/usr/sbin/nginx"

// StartNginx runs nginx in dir on port of 127.0.0.1…127.0.0.hosts. With
// keepAlive false nginx closes every connection after its response, so
// every check dials anew.
func StartNginx(ctx context.Context, dir string, hosts, port int, keepAlive bool) (*Nginx, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = NginxBinary
		if _, err := os.Stat(bin); err != nil {
			return nil, fmt.Errorf("nginx not installed (apt-get install nginx-light): %w", err)
		}
	}
	for _, sub := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	var listen strings.Builder
	var addrs []string
	for i := 1; i <= hosts; i++ {
		a := fmt.Sprintf("127.0.0.%d:%d", i, port)
		addrs = append(addrs, a)
		fmt.Fprintf(&listen, "    listen %s backlog=4096;\n", a)
	}
	keepalive := "keepalive_timeout 75s; keepalive_requests 100000000;"
	if !keepAlive {
		keepalive = "keepalive_timeout 0;"
	}
	// One worker: the agent and nginx share the machine's two cores, as
	// the measurement specifies.
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
master_process on;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
worker_rlimit_nofile 16384;
events { worker_connections 16000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  %[2]s
  server {
%[3]s    location / { return 200 "ok\n"; }
  }
}
`, dir, keepalive, listen.String())
	file := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-c", file, "-e", filepath.Join(dir, "logs", "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	n := &Nginx{Addrs: addrs, cmd: cmd, done: make(chan error, 1)}
	go func() { n.done <- cmd.Wait() }()
	if err := n.waitReady(ctx); err != nil {
		n.Stop()
		log, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
		return nil, fmt.Errorf("nginx: %w\n%s", err, log)
	}
	return n, nil
}

func (n *Nginx) waitReady(ctx context.Context) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range n.Addrs {
		for {
			resp, err := c.Get("http://" + a + "/")
			if err == nil {
				resp.Body.Close()
				break
			}
			select {
			case err := <-n.done:
				return fmt.Errorf("exited: %v", err)
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("not answering on %s: %w", a, err)
			}
		}
	}
	return nil
}

// Pids returns nginx's master and worker process IDs, for CPU accounting.
func (n *Nginx) Pids() []int {
	pids := []int{n.cmd.Process.Pid}
	return append(pids, childrenOf(n.cmd.Process.Pid)...)
}

// Stop ends nginx (quick shutdown) and waits for it.
func (n *Nginx) Stop() {
	if n.cmd.Process == nil {
		return
	}
	_ = n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.done:
	case <-time.After(5 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

// FreePort returns a TCP port that is free on 127.0.0.1 now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
