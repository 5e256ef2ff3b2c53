package contracts

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
)

// The agent runs what the chart renders: the pod's own arguments,
// environment and mounted files (the ConfigMaps and Secrets the chart
// renders, written under a temporary directory in place of /etc/cpra-agent),
// first with --config.check, then for real, probed the way the kubelet
// would probe it. This is what catches a flag the agent does not have, a key
// its configuration rejects, or a probe that would keep a healthy pod out of
// service.

// helmAgentMount is where the chart mounts the agent's files.
const helmAgentMount = "/etc/cpra-agent/"

// helmAgentBinary returns the agent: CPRA_AGENT_BIN, or a fresh build.
func helmAgentBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CPRA_AGENT_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("CPRA_AGENT_BIN=%s: %v", p, err)
		}
		return abs
	}
	bin := filepath.Join(t.TempDir(), "cpra-agent")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/cpra-agent")
	cmd.Dir = helmRepoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the agent: %v\n%s", err, out)
	}
	return bin
}

// helmAgentCommand prepares the agent as the pod would start it: the files
// mounted under /etc/cpra-agent written below root, the arguments pointing
// there, the agent listening on addr, and the CPRA_* environment with
// ordinal in place of the pod-index label. existing holds the data of the
// Secrets and ConfigMaps the values name but the chart does not render.
func helmAgentCommand(t *testing.T, bin string, m helmManifests, existing map[string]map[string]string, root, addr, ordinal string) *exec.Cmd {
	t.Helper()
	pod, _ := helmWorkload(t, m)
	c := helmAgent(t, pod)
	relocate := func(s string) string { return strings.ReplaceAll(s, helmAgentMount, root+"/") }
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	for _, vm := range c.VolumeMounts {
		if !strings.HasPrefix(vm.MountPath, helmAgentMount) {
			continue
		}
		v := volumes[vm.Name]
		var data map[string]string
		switch {
		case v.ConfigMap != nil && m.configMap(v.ConfigMap.Name) != nil:
			data = m.configMap(v.ConfigMap.Name).Data
		case v.Secret != nil && m.secret(v.Secret.SecretName) != nil:
			data = m.secret(v.Secret.SecretName).StringData
		case v.Secret != nil && existing[v.Secret.SecretName] != nil:
			data = existing[v.Secret.SecretName]
		case v.ConfigMap != nil && existing[v.ConfigMap.Name] != nil:
			data = existing[v.ConfigMap.Name]
		default:
			t.Fatalf("volume %s at %s: not an object the chart renders, nor one the test provides", vm.Name, vm.MountPath)
		}
		dir := relocate(vm.MountPath)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for key, content := range data {
			if err := os.WriteFile(filepath.Join(dir, key), []byte(relocate(content)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	var args []string
	for _, a := range c.Args {
		if strings.HasPrefix(a, "--web.listen-address=") {
			a = "--web.listen-address=" + addr
		}
		if strings.HasPrefix(a, "--storage.path=") {
			a = "--storage.path=" + filepath.Join(root, "state")
		}
		args = append(args, relocate(a))
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root, "TMPDIR=" + root}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == helmPodIndex:
			env = append(env, e.Name+"="+ordinal)
		case e.ValueFrom != nil:
			t.Fatalf("env %s: a source this test cannot emulate: %+v", e.Name, e.ValueFrom)
		case strings.HasPrefix(e.Name, "CPRA_"):
			env = append(env, e.Name+"="+e.Value)
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Dir = root
	return cmd
}

// helmProbe probes the agent at addr the way the kubelet does: a TCP
// connection, or a GET that succeeds with a status from 200 to 399 (the
// kubelet does not verify certificates).
func helmProbe(p *corev1.Probe, addr string) error {
	if p.TCPSocket != nil {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	g := p.HTTPGet
	req, err := http.NewRequest(http.MethodGet, strings.ToLower(string(g.Scheme))+"://"+addr+g.Path, nil)
	if err != nil {
		return err
	}
	for _, h := range g.HTTPHeaders {
		req.Header.Set(h.Name, h.Value)
	}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet
	}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("%s %s: %s", g.Scheme, g.Path, resp.Status)
	}
	return nil
}

// helmFreeAddr returns a loopback address nothing listens on.
func helmFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// helmTLSFiles writes a self-signed certificate for 127.0.0.1 and its key.
func helmTLSFiles(t *testing.T) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "cpra-agent"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestHelmAgentRunsRenderedPod(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the agent")
	}
	helmBinary(t) // skip early without helm
	bin := helmAgentBinary(t)

	const user, password = "prometheus", "s3cret"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	basicAuth := fmt.Sprintf("webConfig: {enabled: true, config: {basic_auth_users: {%s: %q}}}\n", user, hash)
	authHeader := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	cert, key := helmTLSFiles(t)
	tlsFiles := []string{"--set-file", `webConfig.files.tls\.crt=` + cert, "--set-file", `webConfig.files.tls\.key=` + key}
	everything, err := os.ReadFile(filepath.Join(helmChartDir, "ci", "everything-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, values string
		args         []string
		checkOnly    bool // the monitors deliver codes to hosts that do not exist here
		// auth: basic auth is on and the probes cannot pass it
		auth bool
		// existing: objects the values name, by name
		existing map[string]map[string]string
		// token: the Alertmanager webhook's bearer token
		token string
	}{
		{name: "default"},
		{name: "sharded", values: "shards: 3"},
		{name: "basic-auth", values: basicAuth, auth: true},
		{name: "basic-auth-http-probes", values: basicAuth + fmt.Sprintf(
			"probes: {type: httpGet, httpHeaders: [{name: Authorization, value: %q}]}\n", authHeader)},
		{name: "tls", values: `
webConfig:
  enabled: true
  config:
    tls_server_config: {cert_file: /etc/cpra-agent/web/tls.crt, key_file: /etc/cpra-agent/web/tls.key}
`, args: tlsFiles},
		{name: "everything-values", values: string(everything), args: tlsFiles, checkOnly: true},
		{name: "alertmanager-webhook-token", values: "alertmanagerWebhook: {bearerTokenSecret: {name: am-token, key: token}}",
			existing: map[string]map[string]string{"am-token": {"token": "t0ken"}}, token: "t0ken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := helmTemplate(t, tc.values, tc.args...)
			root := t.TempDir()
			addr := helmFreeAddr(t)

			check := helmAgentCommand(t, bin, m, tc.existing, root, addr, "2")
			check.Args = append(check.Args, "--config.check")
			out, err := check.CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("monitors OK")) {
				t.Fatalf("the agent rejects the rendered files (%s): %v\n%s", strings.Join(check.Args[1:], " "), err, out)
			}
			if tc.checkOnly {
				return
			}

			cmd := helmAgentCommand(t, bin, m, tc.existing, root, addr, "2")
			var logs bytes.Buffer
			cmd.Stdout, cmd.Stderr = &logs, &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case err := <-exited:
					if err != nil {
						t.Errorf("the agent exited with %v after SIGTERM\n%s", err, logs.String())
					}
				case <-time.After(45 * time.Second):
					_ = cmd.Process.Kill()
					t.Errorf("the agent did not stop within 45s of SIGTERM\n%s", logs.String())
				}
			}()

			pod, _ := helmWorkload(t, m)
			c := helmAgent(t, pod)
			probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe}
			deadline := time.Now().Add(30 * time.Second)
			for name, p := range probes {
				for {
					err := helmProbe(p, addr)
					if err == nil {
						break
					}
					select {
					case e := <-exited:
						t.Fatalf("the agent exited: %v\n%s", e, logs.String())
					default:
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s probe still failing after 30s: %v\n%s", name, err, logs.String())
					}
					time.Sleep(100 * time.Millisecond)
				}
			}

			if tc.token != "" {
				// The endpoint is enabled (403 without a token or basic
				// auth) and takes the token from the mounted Secret.
				post := func(token string) int {
					req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/alertmanager/webhook", strings.NewReader("{}"))
					req.Header.Set("Authorization", "Bearer "+token)
					req.Header.Set("Content-Type", "application/json")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					return resp.StatusCode
				}
				if code := post("wrong"); code != http.StatusUnauthorized {
					t.Errorf("webhook with a wrong token: %d, want 401", code)
				}
				if code := post(tc.token); code != http.StatusBadRequest {
					t.Errorf("webhook with the token and an empty payload: %d, want 400 (past authentication)", code)
				}
			}
			if tc.auth {
				// Why the probes are tcpSocket: exporter-toolkit puts every
				// endpoint, /-/healthy included, behind basic auth.
				get := func(header string) int {
					req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/-/healthy", nil)
					if header != "" {
						req.Header.Set("Authorization", header)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
					return resp.StatusCode
				}
				if code := get(""); code != http.StatusUnauthorized {
					t.Errorf("/-/healthy without credentials: %d, want 401", code)
				}
				if code := get(authHeader); code != http.StatusOK {
					t.Errorf("/-/healthy with credentials: %d, want 200", code)
				}
			}
		})
	}
}
