package contracts

// The Helm chart (deploy/helm/cpra-agent) rendered with helm itself and every
// manifest decoded strictly into its Go type: the Kubernetes types from
// k8s.io/api, and the Prometheus Operator's own types for ServiceMonitor and
// PrometheusRule. A field the API does not know, a duplicate key or a wrong
// type fails the test, which is what kubeconform would catch if it could
// download its schemas here.
//
// helm comes from HELM_BIN (the Makefile sets it) or PATH; without either the
// tests skip and say how to get it.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// helmKubeVersion is the Kubernetes version the chart is rendered for: the
// oldest that sets the apps.kubernetes.io/pod-index label the sharded
// StatefulSet takes its shard index from.
const helmKubeVersion = "1.28.0"

// helmRepoRoot is the repository, seen from tests/contracts.
var helmRepoRoot = filepath.Join("..", "..")

var helmChartDir = filepath.Join(helmRepoRoot, "deploy", "helm", "cpra-agent")

// The names the chart gives things with the release name used here ("r").
const (
	helmRelease   = "r"
	helmNamespace = "cpra"
	helmFullname  = "r-cpra-agent"
	helmPodIndex  = "metadata.labels['apps.kubernetes.io/pod-index']"
	helmAgentUID  = 65532
	helmPort      = 9469
	helmPortName  = "http-metrics"
)

// helmBinary finds helm: HELM_BIN when set (then it must exist), else PATH.
func helmBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HELM_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("HELM_BIN=%s: %v", p, err)
		}
		return p
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	t.Skip("helm not found: set HELM_BIN or put helm on PATH " +
		"(go install helm.sh/helm/v3/cmd/helm@v3.22.0; make chart-test does it)")
	return ""
}

// helmRun runs helm offline, its cache, config and data homes in temporary
// directories, and returns its standard output; the error carries standard
// error.
func helmRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := helmBinary(t)
	home := t.TempDir()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// helmTemplateArgs renders the chart with values (YAML text) plus args.
func helmTemplateArgs(t *testing.T, values string, args ...string) (string, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(file, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	all := append([]string{"template", helmRelease, helmChartDir,
		"--namespace", helmNamespace, "--kube-version", helmKubeVersion, "-f", file}, args...)
	return helmRun(t, all...)
}

// helmTemplate renders the chart and decodes every manifest strictly.
func helmTemplate(t *testing.T, values string, args ...string) helmManifests {
	t.Helper()
	out, err := helmTemplateArgs(t, values, args...)
	if err != nil {
		t.Fatal(err)
	}
	return helmDecode(t, out)
}

// helmObject is one rendered manifest, decoded into its Go type.
type helmObject struct {
	Kind, Name string
	Obj        any
}

type helmManifests []helmObject

// helmTypes are the kinds the chart may render, by apiVersion and kind.
var helmTypes = map[string]func() any{
	"v1/ConfigMap":                            func() any { return new(corev1.ConfigMap) },
	"v1/Secret":                               func() any { return new(corev1.Secret) },
	"v1/Service":                              func() any { return new(corev1.Service) },
	"v1/ServiceAccount":                       func() any { return new(corev1.ServiceAccount) },
	"apps/v1/Deployment":                      func() any { return new(appsv1.Deployment) },
	"apps/v1/StatefulSet":                     func() any { return new(appsv1.StatefulSet) },
	"policy/v1/PodDisruptionBudget":           func() any { return new(policyv1.PodDisruptionBudget) },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return new(monitoringv1.ServiceMonitor) },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return new(monitoringv1.PrometheusRule) },
}

// helmDecode splits helm's output into documents and decodes each with
// sigs.k8s.io/yaml.UnmarshalStrict: duplicate keys and fields the type does
// not have are errors.
func helmDecode(t *testing.T, out string) helmManifests {
	t.Helper()
	var m helmManifests
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("splitting helm output: %v", err)
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("helm output is not YAML: %v\n%s", err, doc)
		}
		if head.Kind == "" && head.APIVersion == "" {
			if len(bytes.TrimSpace(helmStripComments(doc))) != 0 {
				t.Fatalf("a manifest without apiVersion and kind:\n%s", doc)
			}
			continue
		}
		newObj, ok := helmTypes[head.APIVersion+"/"+head.Kind]
		if !ok {
			t.Fatalf("the chart renders %s %s, which this test does not know: add it to helmTypes", head.APIVersion, head.Kind)
		}
		if head.Metadata.Name == "" {
			t.Errorf("%s without a name", head.Kind)
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Errorf("%s %s does not decode strictly into %T: %v", head.Kind, head.Metadata.Name, obj, err)
			continue
		}
		m = append(m, helmObject{Kind: head.Kind, Name: head.Metadata.Name, Obj: obj})
	}
	if len(m) == 0 {
		t.Fatal("helm rendered nothing")
	}
	return m
}

func helmStripComments(doc []byte) []byte {
	var out []byte
	for line := range bytes.Lines(doc) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
		}
	}
	return out
}

// helmAll returns every rendered object of type T.
func helmAll[T any](m helmManifests) []*T {
	var out []*T
	for _, o := range m {
		if x, ok := o.Obj.(*T); ok {
			out = append(out, x)
		}
	}
	return out
}

// helmOne returns the one object of type T, failing unless there is exactly one.
func helmOne[T any](t *testing.T, m helmManifests) *T {
	t.Helper()
	all := helmAll[T](m)
	if len(all) != 1 {
		t.Fatalf("want one %T, got %d (%s)", new(T), len(all), m.kinds())
	}
	return all[0]
}

// helmNone fails if an object of type T was rendered.
func helmNone[T any](t *testing.T, m helmManifests) {
	t.Helper()
	if all := helmAll[T](m); len(all) != 0 {
		t.Errorf("want no %T, got %d", new(T), len(all))
	}
}

func (m helmManifests) kinds() string {
	var s []string
	for _, o := range m {
		s = append(s, o.Kind+"/"+o.Name)
	}
	return strings.Join(s, ", ")
}

func (m helmManifests) configMap(name string) *corev1.ConfigMap {
	for _, cm := range helmAll[corev1.ConfigMap](m) {
		if cm.Name == name {
			return cm
		}
	}
	return nil
}

func (m helmManifests) secret(name string) *corev1.Secret {
	for _, s := range helmAll[corev1.Secret](m) {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (m helmManifests) service(name string) *corev1.Service {
	for _, s := range helmAll[corev1.Service](m) {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// helmWorkload returns the pod template of the one Deployment or StatefulSet.
func helmWorkload(t *testing.T, m helmManifests) (*corev1.PodTemplateSpec, *appsv1.StatefulSet) {
	t.Helper()
	deps, sets := helmAll[appsv1.Deployment](m), helmAll[appsv1.StatefulSet](m)
	switch {
	case len(deps) == 1 && len(sets) == 0:
		return &deps[0].Spec.Template, nil
	case len(deps) == 0 && len(sets) == 1:
		return &sets[0].Spec.Template, sets[0]
	}
	t.Fatalf("want one Deployment or one StatefulSet, got %d and %d", len(deps), len(sets))
	return nil, nil
}

// helmAgent returns the agent's container.
func helmAgent(t *testing.T, pod *corev1.PodTemplateSpec) *corev1.Container {
	t.Helper()
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == "cpra-agent" {
			return &pod.Spec.Containers[i]
		}
	}
	t.Fatal("no container named cpra-agent")
	return nil
}

// helmFlag returns the value of --name=value in args.
func helmFlag(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func helmEnv(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// helmFileSource follows a file flag (--config=/etc/...) to the mounted
// volume it reads, and returns the volume's source: "configMap" or
// "secret", the object's name and the key the file comes from.
func helmFileSource(t *testing.T, pod *corev1.PodTemplateSpec, c *corev1.Container, flag string) (kind, name, key string) {
	t.Helper()
	path, ok := helmFlag(c.Args, flag)
	if !ok {
		t.Fatalf("no --%s in %q", flag, c.Args)
	}
	dir, key := filepath.Dir(path), filepath.Base(path)
	var volume string
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == dir {
			if vm.SubPath != "" {
				t.Errorf("--%s: volume %s is mounted with subPath, so updates never reach the agent", flag, vm.Name)
			}
			if !vm.ReadOnly {
				t.Errorf("--%s: volume %s is mounted read-write", flag, vm.Name)
			}
			volume = vm.Name
		}
	}
	if volume == "" {
		t.Fatalf("--%s=%s: nothing is mounted at %s", flag, path, dir)
	}
	for _, v := range pod.Spec.Volumes {
		if v.Name != volume {
			continue
		}
		switch {
		case v.ConfigMap != nil:
			return "configMap", v.ConfigMap.Name, key
		case v.Secret != nil:
			return "secret", v.Secret.SecretName, key
		}
		t.Fatalf("--%s: volume %s is neither a ConfigMap nor a Secret", flag, volume)
	}
	t.Fatalf("--%s: no volume %s in the pod", flag, volume)
	return "", "", ""
}

// helmRenderedFile returns the content of a file flag when the chart renders
// its ConfigMap or Secret, failing when the object lacks the key.
func helmRenderedFile(t *testing.T, m helmManifests, pod *corev1.PodTemplateSpec, c *corev1.Container, flag string) (string, bool) {
	t.Helper()
	kind, name, key := helmFileSource(t, pod, c, flag)
	var data map[string]string
	switch kind {
	case "configMap":
		cm := m.configMap(name)
		if cm == nil {
			return "", false
		}
		data = cm.Data
	case "secret":
		s := m.secret(name)
		if s == nil {
			return "", false
		}
		data = s.StringData
	}
	content, ok := data[key]
	if !ok {
		t.Fatalf("--%s: %s %s has no key %s (keys: %v)", flag, kind, name, key, slices.Sorted(maps.Keys(data)))
	}
	return content, true
}

// helmCheckSecurity asserts the hardening every rendering must keep.
func helmCheckSecurity(t *testing.T, pod *corev1.PodTemplateSpec, icmp bool) {
	t.Helper()
	ps := pod.Spec.SecurityContext
	if ps == nil {
		t.Fatal("no pod securityContext")
	}
	if ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot {
		t.Error("pod: runAsNonRoot is not true")
	}
	if ps.RunAsUser == nil || *ps.RunAsUser != helmAgentUID {
		t.Errorf("pod: runAsUser is not %d", helmAgentUID)
	}
	if ps.SeccompProfile == nil || ps.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod: seccompProfile is not RuntimeDefault")
	}
	var pingRange string
	for _, s := range ps.Sysctls {
		if s.Name == "net.ipv4.ping_group_range" {
			pingRange = s.Value
		}
	}
	if icmp && pingRange != "0 2147483647" {
		t.Errorf("icmp enabled: sysctl net.ipv4.ping_group_range = %q, want all groups", pingRange)
	}
	if !icmp && len(ps.Sysctls) != 0 {
		t.Errorf("icmp disabled: want no sysctls, got %v", ps.Sysctls)
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("the agent needs no Kubernetes API: automountServiceAccountToken should be false")
	}
	if pod.Spec.HostNetwork {
		t.Error("hostNetwork")
	}

	c := helmAgent(t, pod)
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("no container securityContext")
	}
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("container: runAsNonRoot is not true")
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != helmAgentUID {
		t.Errorf("container: runAsUser is not %d", helmAgentUID)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("container: readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container: allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("container: privileged")
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("container: seccompProfile is not RuntimeDefault")
	}
	if sc.Capabilities == nil || !reflect.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container: capabilities.drop should be [ALL], got %+v", sc.Capabilities)
	}
	var add []corev1.Capability
	if sc.Capabilities != nil {
		add = sc.Capabilities.Add
	}
	want := []corev1.Capability(nil)
	if icmp {
		want = []corev1.Capability{"NET_RAW"}
	}
	if !reflect.DeepEqual(add, want) {
		t.Errorf("container: capabilities.add = %v, want %v (NET_RAW only with icmp.enabled)", add, want)
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("container: no %s request", r)
		}
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Error("container: no memory limit")
	}
	// The root filesystem is read-only: /tmp must be writable.
	var tmp bool
	for _, vm := range c.VolumeMounts {
		tmp = tmp || (vm.MountPath == "/tmp" && !vm.ReadOnly)
	}
	if !tmp {
		t.Error("container: no writable /tmp under a read-only root filesystem")
	}
}

// helmCheckProbes asserts the probes: kind is httpGet or tcpSocket.
func helmCheckProbes(t *testing.T, c *corev1.Container, kind string, scheme corev1.URIScheme) {
	t.Helper()
	var port *corev1.ContainerPort
	for i := range c.Ports {
		if c.Ports[i].Name == helmPortName {
			port = &c.Ports[i]
		}
	}
	if port == nil || port.ContainerPort != helmPort {
		t.Fatalf("want container port %s = %d, got %+v", helmPortName, helmPort, c.Ports)
	}
	if got, _ := helmFlag(c.Args, "web.listen-address"); got != fmt.Sprintf(":%d", helmPort) {
		t.Errorf("--web.listen-address=%s, want :%d (the container port)", got, helmPort)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{
		{"liveness", c.LivenessProbe, "/-/healthy"},
		{"readiness", c.ReadinessProbe, "/-/ready"},
		{"startup", c.StartupProbe, "/-/healthy"},
	} {
		if p.probe == nil {
			t.Errorf("no %s probe", p.name)
			continue
		}
		h := p.probe.ProbeHandler
		switch kind {
		case "httpGet":
			if h.HTTPGet == nil || h.TCPSocket != nil {
				t.Errorf("%s probe: want httpGet only, got %+v", p.name, h)
				continue
			}
			if h.HTTPGet.Path != p.path || h.HTTPGet.Port.String() != helmPortName || h.HTTPGet.Scheme != scheme {
				t.Errorf("%s probe: want %s %s on port %s, got %s %s on %s", p.name, scheme, p.path, helmPortName,
					h.HTTPGet.Scheme, h.HTTPGet.Path, h.HTTPGet.Port.String())
			}
		case "tcpSocket":
			if h.TCPSocket == nil || h.HTTPGet != nil {
				t.Errorf("%s probe: want tcpSocket only, got %+v", p.name, h)
				continue
			}
			if h.TCPSocket.Port.String() != helmPortName {
				t.Errorf("%s probe: port %s, want %s", p.name, h.TCPSocket.Port.String(), helmPortName)
			}
		}
	}
}

// helmCheckSharding asserts the workload kind and the shard wiring.
func helmCheckSharding(t *testing.T, m helmManifests, shards int) {
	t.Helper()
	pod, sts := helmWorkload(t, m)
	c := helmAgent(t, pod)
	count, hasCount := helmFlag(c.Args, "shard.count")
	if _, ok := helmFlag(c.Args, "shard.index"); ok {
		t.Error("--shard.index in the args: flags win over CPRA_SHARD_INDEX, every replica would get the same shard")
	}
	index := helmEnv(c, "CPRA_SHARD_INDEX")
	if shards == 0 { // a Deployment
		if sts != nil {
			t.Fatal("want a Deployment, got a StatefulSet")
		}
		d := helmOne[appsv1.Deployment](t, m)
		if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
			t.Errorf("Deployment replicas = %v, want 1 (two copies would repeat every intervention)", d.Spec.Replicas)
		}
		if hasCount || index != nil {
			t.Errorf("unsharded: want no --shard.count and no CPRA_SHARD_INDEX, got %q and %+v", count, index)
		}
		if s := m.service(helmFullname + "-headless"); s != nil {
			t.Error("unsharded: a headless Service")
		}
		return
	}
	if sts == nil {
		t.Fatal("want a StatefulSet, got a Deployment")
	}
	if sts.Spec.Replicas == nil || int(*sts.Spec.Replicas) != shards {
		t.Errorf("StatefulSet replicas = %v, want shards = %d", sts.Spec.Replicas, shards)
	}
	if count != fmt.Sprint(shards) {
		t.Errorf("--shard.count = %q, want %d", count, shards)
	}
	if index == nil || index.ValueFrom == nil || index.ValueFrom.FieldRef == nil || index.ValueFrom.FieldRef.FieldPath != helmPodIndex {
		t.Errorf("CPRA_SHARD_INDEX should come from the downward API field %s, got %+v", helmPodIndex, index)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy = %q, want Parallel (shards are independent)", sts.Spec.PodManagementPolicy)
	}
	hs := m.service(sts.Spec.ServiceName)
	if hs == nil {
		t.Fatalf("StatefulSet serviceName %q: no such Service", sts.Spec.ServiceName)
	}
	if hs.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s is the StatefulSet's governing Service but not headless", hs.Name)
	}
	if !helmSelects(hs.Spec.Selector, pod.Labels) {
		t.Errorf("headless Service selector %v does not select the pods %v", hs.Spec.Selector, pod.Labels)
	}
}

// helmSelects reports whether selector matches labels.
func helmSelects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// helmCheckService asserts the metrics Service: port 9469 named
// http-metrics, selecting the pods.
func helmCheckService(t *testing.T, m helmManifests) *corev1.Service {
	t.Helper()
	pod, _ := helmWorkload(t, m)
	s := m.service(helmFullname)
	if s == nil {
		t.Fatalf("no Service %s (%s)", helmFullname, m.kinds())
	}
	if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].Name != helmPortName || s.Spec.Ports[0].Port != helmPort ||
		s.Spec.Ports[0].TargetPort.String() != helmPortName {
		t.Errorf("Service ports = %+v, want %s %d -> %s", s.Spec.Ports, helmPortName, helmPort, helmPortName)
	}
	if !helmSelects(s.Spec.Selector, pod.Labels) {
		t.Errorf("Service selector %v does not select the pods %v", s.Spec.Selector, pod.Labels)
	}
	return s
}

// helmCheckFiles asserts that --config and --yaml name mounted files, and
// that the files the chart renders are what the values say.
func helmCheckFiles(t *testing.T, m helmManifests, wantConfig, wantMonitors string) {
	t.Helper()
	pod, _ := helmWorkload(t, m)
	c := helmAgent(t, pod)
	for _, f := range []struct{ flag, want string }{{"config", wantConfig}, {"yaml", wantMonitors}} {
		got, ok := helmRenderedFile(t, m, pod, c, f.flag)
		if !ok {
			t.Errorf("--%s: the chart does not render the object it mounts", f.flag)
			continue
		}
		helmSameYAML(t, "--"+f.flag, got, f.want)
	}
}

// helmSameYAML compares two YAML documents by value.
func helmSameYAML(t *testing.T, what, got, want string) {
	t.Helper()
	var g, w any
	if err := yaml.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, got)
	}
	if err := yaml.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s (want): %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, got, want)
	}
}

const helmDefaultMonitors = `
monitors:
  - name: kubernetes-api
    groups: [kubernetes]
    pulse_check:
      type: tcp
      interval: 30s
      timeout: 5s
      max_failures: 3
      healthy_threshold: 2
      config: {host: kubernetes.default.svc, port: 443}
    codes:
      yellow: {dispatch: true, notify: log, config: {file: ""}}
      red: {dispatch: true, notify: log, config: {file: ""}}
      green: {dispatch: true, notify: log, config: {file: ""}}
`

func TestHelmLint(t *testing.T) {
	ci, err := filepath.Glob(filepath.Join(helmChartDir, "ci", "*-values.yaml"))
	if err != nil || len(ci) == 0 {
		t.Fatalf("no ci/*-values.yaml in the chart: %v", err)
	}
	for _, values := range append([]string{""}, ci...) {
		name := "default"
		if values != "" {
			name = filepath.Base(values)
		}
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", "--strict", "--kube-version", helmKubeVersion, helmChartDir}
			if values != "" {
				args = append(args, "-f", values)
			}
			out, err := helmRun(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "0 chart(s) failed") || strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ERROR]") {
				t.Errorf("helm lint --strict:\n%s", out)
			}
		})
	}
}

func TestHelmTemplateDefault(t *testing.T) {
	m := helmTemplate(t, "")
	helmCheckSharding(t, m, 0)
	pod, _ := helmWorkload(t, m)
	c := helmAgent(t, pod)
	helmCheckSecurity(t, pod, false)
	helmCheckProbes(t, c, "httpGet", corev1.URISchemeHTTP)
	helmCheckService(t, m)
	helmCheckFiles(t, m, "log: {level: info, format: json}", helmDefaultMonitors)
	if _, ok := helmFlag(c.Args, "web.config.file"); ok {
		t.Error("--web.config.file without webConfig.enabled")
	}
	if c.Image != "ghcr.io/cpra-agent/cpra-agent:0.1.0" {
		t.Errorf("image %s, want the repository at the chart's appVersion", c.Image)
	}
	for _, k := range []string{"checksum/config", "checksum/monitors"} {
		if pod.Annotations[k] == "" {
			t.Errorf("no %s annotation: a changed file would not roll the pods", k)
		}
	}
	sa := helmOne[corev1.ServiceAccount](t, m)
	if pod.Spec.ServiceAccountName != sa.Name {
		t.Errorf("pod runs as service account %q, the chart creates %q", pod.Spec.ServiceAccountName, sa.Name)
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g <= 30 {
		t.Errorf("terminationGracePeriodSeconds = %v, want more than the agent's 30s shutdown_timeout", g)
	}
	helmNone[monitoringv1.ServiceMonitor](t, m)
	helmNone[monitoringv1.PrometheusRule](t, m)
	helmNone[corev1.Secret](t, m)

	// Unsharded, the chart claims Kubernetes 1.25 (Chart.yaml kubeVersion).
	helmWorkload(t, helmTemplate(t, "", "--kube-version", "1.25.0"))
	if n := len(helmAll[corev1.ConfigMap](m)); n != 2 {
		t.Errorf("want 2 ConfigMaps (config and monitors), got %d: %s", n, m.kinds())
	}
}

func TestHelmTemplateSharded(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		shards       int
	}{
		{"shards-3", "shards: 3", 3},
		{"shards-3-from-set", "", 3},
		{"sharding-enabled-1", "sharding: {enabled: true}", 1},
		{"shards-16", "shards: 16\nsharding: {podManagementPolicy: Parallel}", 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.values == "" {
				args = []string{"--set", "shards=3"} // an int64, not a float64 from a file
			}
			m := helmTemplate(t, tc.values, args...)
			helmCheckSharding(t, m, tc.shards)
			pod, _ := helmWorkload(t, m)
			helmCheckSecurity(t, pod, false)
			helmCheckProbes(t, helmAgent(t, pod), "httpGet", corev1.URISchemeHTTP)
			helmCheckService(t, m)
			helmCheckFiles(t, m, "log: {level: info, format: json}", helmDefaultMonitors)
		})
	}
}

// replicas: N runs cluster mode: a StatefulSet of N pods that gossip on
// their IP under their pod name, join through the headless Service (which
// carries the gossip ports), keep one state volume each, spread across
// nodes and leave one at a time (issue #23, item 8).
func TestHelmTemplateCluster(t *testing.T) {
	m := helmTemplate(t, "replicas: 3\nstorage: {persistence: {enabled: true, size: 1Gi}}\ncluster: {secretKey: {existingSecret: gossip-key}}")
	pod, sts := helmWorkload(t, m)
	if sts == nil || sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
		t.Fatalf("want a StatefulSet of 3, got %+v", sts)
	}
	if len(sts.Spec.VolumeClaimTemplates) != 1 {
		t.Errorf("want a state volume per pod, got %d claim templates", len(sts.Spec.VolumeClaimTemplates))
	}
	c := helmAgent(t, pod)
	want := map[string]string{
		"cluster.listen-address":    "0.0.0.0:7946",
		"cluster.advertise-address": "$(POD_IP):7946",
		"cluster.name":              "$(POD_NAME)",
		"cluster.join":              helmFullname + "-headless." + helmNamespace + ".svc:7946",
	}
	for flag, v := range want {
		if got, ok := helmFlag(c.Args, flag); !ok || got != v {
			t.Errorf("--%s = %q, want %q", flag, got, v)
		}
	}
	if _, ok := helmFlag(c.Args, "shard.count"); ok || helmEnv(c, "CPRA_SHARD_INDEX") != nil {
		t.Error("cluster mode with static shard settings")
	}
	for name, path := range map[string]string{"POD_IP": "status.podIP", "POD_NAME": "metadata.name"} {
		if e := helmEnv(c, name); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != path {
			t.Errorf("%s should come from %s, got %+v", name, path, e)
		}
	}
	if e := helmEnv(c, "CPRA_CLUSTER_SECRET_KEY_FILE"); e == nil || e.Value != "/etc/cpra-agent/cluster/key" {
		t.Errorf("the gossip key file: %+v", e)
	}
	ports := map[string]corev1.Protocol{}
	for _, p := range c.Ports {
		ports[p.Name] = p.Protocol
	}
	if ports["gossip-tcp"] != corev1.ProtocolTCP || ports["gossip-udp"] != corev1.ProtocolUDP {
		t.Errorf("container ports %v, want gossip over TCP and UDP", ports)
	}
	hs := m.service(sts.Spec.ServiceName)
	if hs == nil || !hs.Spec.PublishNotReadyAddresses {
		t.Fatalf("headless Service %s: %+v", sts.Spec.ServiceName, hs)
	}
	svcPorts := map[string]bool{}
	for _, p := range hs.Spec.Ports {
		svcPorts[p.Name+"/"+string(p.Protocol)] = true
	}
	if !svcPorts["gossip-tcp/TCP"] || !svcPorts["gossip-udp/UDP"] {
		t.Errorf("headless Service ports %v, want gossip over TCP and UDP", svcPorts)
	}
	pdb := helmOne[policyv1.PodDisruptionBudget](t, m)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
		t.Errorf("PodDisruptionBudget maxUnavailable %v, want 1", pdb.Spec.MaxUnavailable)
	}
	if tsc := pod.Spec.TopologySpreadConstraints; len(tsc) != 1 || tsc[0].TopologyKey != "kubernetes.io/hostname" ||
		tsc[0].WhenUnsatisfiable != corev1.ScheduleAnyway {
		t.Errorf("topology spread %+v, want a soft spread across nodes", tsc)
	}
	// One replica is no cluster: a Deployment as before, no disruption budget.
	one := helmTemplate(t, "replicas: 1")
	if _, sts := helmWorkload(t, one); sts != nil || len(helmAll[policyv1.PodDisruptionBudget](one)) != 0 {
		t.Error("replicas: 1 rendered a StatefulSet or a PodDisruptionBudget")
	}
}

func TestHelmTemplateICMP(t *testing.T) {
	m := helmTemplate(t, "icmp: {enabled: true}")
	pod, _ := helmWorkload(t, m)
	helmCheckSecurity(t, pod, true)

	// Without the capability, only the sysctl.
	m = helmTemplate(t, "icmp: {enabled: true, netRaw: false}")
	pod, _ = helmWorkload(t, m)
	if add := helmAgent(t, pod).SecurityContext.Capabilities.Add; len(add) != 0 {
		t.Errorf("icmp.netRaw false: capabilities.add = %v", add)
	}
	if len(pod.Spec.SecurityContext.Sysctls) != 1 {
		t.Errorf("icmp.netRaw false: want the ping_group_range sysctl, got %v", pod.Spec.SecurityContext.Sysctls)
	}
}

func TestHelmTemplateExistingMonitors(t *testing.T) {
	for _, tc := range []struct {
		name, values, kind, object string
	}{
		{"secret", "monitors: {existingSecret: fleet-monitors, key: fleet.yaml}", "secret", "fleet-monitors"},
		{"configmap", "monitors: {existingConfigMap: fleet-monitors, key: fleet.yaml}", "configMap", "fleet-monitors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := helmTemplate(t, tc.values)
			pod, _ := helmWorkload(t, m)
			c := helmAgent(t, pod)
			kind, name, key := helmFileSource(t, pod, c, "yaml")
			if kind != tc.kind || name != tc.object || key != "fleet.yaml" {
				t.Errorf("--yaml reads %s %s key %s, want %s %s key fleet.yaml", kind, name, key, tc.kind, tc.object)
			}
			if cm := m.configMap(helmFullname + "-monitors"); cm != nil {
				t.Error("the chart renders its monitors ConfigMap although an existing object is named")
			}
			if _, ok := pod.Annotations["checksum/monitors"]; ok {
				t.Error("a checksum/monitors annotation for an object the chart does not render")
			}
			helmCheckSecurity(t, pod, false)
		})
	}
}

func TestHelmTemplateAlertmanagerWebhook(t *testing.T) {
	m := helmTemplate(t, `
alertmanagerWebhook: {bearerTokenSecret: {name: am-token, key: am}}
config: {alertmanager_webhook: {max_request_bytes: 2048}}
`)
	pod, _ := helmWorkload(t, m)
	c := helmAgent(t, pod)
	helmCheckFiles(t, m, `
log: {level: info, format: json}
alertmanager_webhook: {max_request_bytes: 2048, bearer_token_file: /etc/cpra-agent/alertmanager-webhook/am}
`, helmDefaultMonitors)
	var mounted bool
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != "/etc/cpra-agent/alertmanager-webhook" {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			mounted = mounted || (v.Name == vm.Name && v.Secret != nil && v.Secret.SecretName == "am-token")
		}
	}
	if !mounted {
		t.Error("Secret am-token is not mounted at /etc/cpra-agent/alertmanager-webhook")
	}
}

func TestHelmTemplateWebConfig(t *testing.T) {
	for _, tc := range []struct {
		name, values string
		probe        string
		scheme       corev1.URIScheme
		smScheme     string
		headers      int
	}{
		{
			name: "basic-auth",
			values: `
webConfig:
  enabled: true
  config:
    basic_auth_users: {prometheus: "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"}
serviceMonitor:
  enabled: true
  basicAuth:
    username: {name: scrape, key: username}
    password: {name: scrape, key: password}
`,
			probe: "tcpSocket", scheme: corev1.URISchemeHTTP, smScheme: "http",
		},
		{
			name: "tls",
			values: `
webConfig:
  enabled: true
  config:
    tls_server_config: {cert_file: /etc/cpra-agent/web/tls.crt, key_file: /etc/cpra-agent/web/tls.key}
  files: {tls.crt: "CERT", tls.key: "KEY"}
serviceMonitor: {enabled: true, tlsConfig: {insecureSkipVerify: true}}
`,
			probe: "httpGet", scheme: corev1.URISchemeHTTPS, smScheme: "https",
		},
		{
			name: "basic-auth-http-probes",
			values: `
webConfig:
  enabled: true
  config:
    basic_auth_users: {prometheus: "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"}
probes:
  type: httpGet
  httpHeaders: [{name: Authorization, value: "Basic cHJvbWV0aGV1czpzZWNyZXQ="}]
`,
			probe: "httpGet", scheme: corev1.URISchemeHTTP, headers: 1,
		},
		{
			name: "existing-secret-tls-and-auth",
			values: `
webConfig: {enabled: true, existingSecret: agent-web, tls: true, basicAuth: true}
serviceMonitor:
  enabled: true
  basicAuth:
    username: {name: scrape, key: username}
    password: {name: scrape, key: password}
`,
			probe: "tcpSocket", scheme: corev1.URISchemeHTTPS, smScheme: "https",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := helmTemplate(t, tc.values)
			pod, _ := helmWorkload(t, m)
			c := helmAgent(t, pod)
			helmCheckSecurity(t, pod, false)
			helmCheckProbes(t, c, tc.probe, tc.scheme)
			if tc.probe == "httpGet" && len(c.LivenessProbe.HTTPGet.HTTPHeaders) != tc.headers {
				t.Errorf("probe headers = %v, want %d", c.LivenessProbe.HTTPGet.HTTPHeaders, tc.headers)
			}
			kind, name, key := helmFileSource(t, pod, c, "web.config.file")
			if kind != "secret" {
				t.Errorf("--web.config.file comes from a %s, want a Secret", kind)
			}
			if s := m.secret(name); s != nil {
				var wc map[string]any
				if err := yaml.UnmarshalStrict([]byte(s.StringData[key]), &wc); err != nil || len(wc) == 0 {
					t.Errorf("web config %q: %v", s.StringData[key], err)
				}
				if pod.Annotations["checksum/web-config"] == "" {
					t.Error("no checksum/web-config annotation")
				}
				if strings.Contains(tc.values, "files:") && (s.StringData["tls.crt"] != "CERT" || s.StringData["tls.key"] != "KEY") {
					t.Errorf("webConfig.files not in the Secret: %v", slices.Sorted(maps.Keys(s.StringData)))
				}
			} else if name != "agent-web" {
				t.Errorf("web config Secret %s is neither rendered nor the existing one", name)
			}
			if tc.smScheme != "" {
				sm := helmOne[monitoringv1.ServiceMonitor](t, m)
				ep := sm.Spec.Endpoints[0]
				if ep.Scheme == nil || string(*ep.Scheme) != tc.smScheme {
					t.Errorf("ServiceMonitor scheme %v, want %s", ep.Scheme, tc.smScheme)
				}
				if strings.Contains(tc.values, "basicAuth:") && (ep.BasicAuth == nil || ep.BasicAuth.Username.Name != "scrape") {
					t.Errorf("ServiceMonitor basicAuth %+v", ep.BasicAuth)
				}
			}
		})
	}
}

// helmRuleFile is what this test reads of a Prometheus rule file.
type helmRuleFile struct {
	Groups []monitoringv1.RuleGroup `json:"groups"`
}

// helmSourceRules reads alerting-rules/*.rules.yml, the sources of the
// chart's copies.
func helmSourceRules(t *testing.T) map[string]helmRuleFile {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(helmRepoRoot, "alerting-rules", "*.rules.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no alerting-rules/*.rules.yml: %v", err)
	}
	out := map[string]helmRuleFile{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf helmRuleFile
		// Strict: a rule file field the PrometheusRule CRD lacks would be
		// dropped by the operator.
		if err := yaml.UnmarshalStrict(data, &rf); err != nil {
			t.Fatalf("%s does not decode as PrometheusRule groups: %v", f, err)
		}
		out[filepath.Base(f)] = rf
	}
	return out
}

// helmSourceDashboards reads dashboards/*.json.
func helmSourceDashboards(t *testing.T) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(helmRepoRoot, "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards/*.json: %v", err)
	}
	out := map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = string(data)
	}
	return out
}

const helmSyncHint = "run make chart-sync"

func TestHelmTemplateMonitoring(t *testing.T) {
	m := helmTemplate(t, `
serviceMonitor: {enabled: true, labels: {release: prometheus}}
prometheusRule: {enabled: true, labels: {release: prometheus}}
dashboards: {enabled: true, annotations: {grafana_folder: cpra-agent}}
`)
	svc := helmCheckService(t, m)

	t.Run("ServiceMonitor", func(t *testing.T) {
		sm := helmOne[monitoringv1.ServiceMonitor](t, m)
		if sm.Labels["release"] != "prometheus" {
			t.Errorf("serviceMonitor.labels not applied: %v", sm.Labels)
		}
		if !helmSelects(sm.Spec.Selector.MatchLabels, svc.Labels) || len(sm.Spec.Selector.MatchExpressions) != 0 {
			t.Errorf("selector %+v does not select Service %s %v", sm.Spec.Selector, svc.Name, svc.Labels)
		}
		if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{helmNamespace}) {
			t.Errorf("namespaceSelector %+v, want the release namespace", sm.Spec.NamespaceSelector)
		}
		if len(sm.Spec.Endpoints) != 1 {
			t.Fatalf("want one endpoint, got %+v", sm.Spec.Endpoints)
		}
		ep := sm.Spec.Endpoints[0]
		if ep.Port != helmPortName || ep.Path != "/metrics" || ep.Scheme == nil || *ep.Scheme != "http" {
			t.Errorf("endpoint %+v, want http /metrics on port %s", ep, helmPortName)
		}
		// job="cpra-agent", which the alerting rules select.
		if sm.Spec.JobLabel != "app.kubernetes.io/name" || svc.Labels[sm.Spec.JobLabel] != "cpra-agent" {
			t.Errorf("jobLabel %q gives job %q, want cpra-agent", sm.Spec.JobLabel, svc.Labels[sm.Spec.JobLabel])
		}
	})

	t.Run("PrometheusRule", func(t *testing.T) {
		pr := helmOne[monitoringv1.PrometheusRule](t, m)
		if pr.Labels["release"] != "prometheus" {
			t.Errorf("prometheusRule.labels not applied: %v", pr.Labels)
		}
		rendered := map[string]monitoringv1.RuleGroup{}
		alerts := map[string]bool{}
		for _, g := range pr.Spec.Groups {
			if _, dup := rendered[g.Name]; dup {
				t.Errorf("rule group %s twice", g.Name)
			}
			rendered[g.Name] = g
			for _, r := range g.Rules {
				if r.Alert != "" {
					alerts[r.Alert] = true
				}
			}
		}
		var want int
		for file, rf := range helmSourceRules(t) {
			for _, g := range rf.Groups {
				want++
				for _, r := range g.Rules {
					if r.Alert != "" && !alerts[r.Alert] {
						t.Errorf("alert %s (alerting-rules/%s) is not in the PrometheusRule: %s", r.Alert, file, helmSyncHint)
					}
				}
				if got, ok := rendered[g.Name]; ok && !reflect.DeepEqual(got, g) {
					t.Errorf("rule group %s differs from alerting-rules/%s: %s", g.Name, file, helmSyncHint)
				}
			}
		}
		if len(rendered) != want {
			t.Errorf("the PrometheusRule has %d groups, alerting-rules/ %d: %s", len(rendered), want, helmSyncHint)
		}
	})

	t.Run("dashboards", func(t *testing.T) {
		sources := helmSourceDashboards(t)
		got := map[string]string{}
		for _, cm := range helmAll[corev1.ConfigMap](m) {
			if cm.Labels["grafana_dashboard"] == "" {
				continue
			}
			if cm.Labels["grafana_dashboard"] != "1" {
				t.Errorf("ConfigMap %s: grafana_dashboard=%q, want \"1\"", cm.Name, cm.Labels["grafana_dashboard"])
			}
			if cm.Annotations["grafana_folder"] != "cpra-agent" {
				t.Errorf("ConfigMap %s: dashboards.annotations not applied: %v", cm.Name, cm.Annotations)
			}
			if len(cm.Data) != 1 {
				t.Errorf("ConfigMap %s holds %d dashboards, want one per ConfigMap", cm.Name, len(cm.Data))
			}
			size := 0
			for k, v := range cm.Data {
				got[k] = v
				size += len(k) + len(v)
			}
			if size > 1<<20 {
				t.Errorf("ConfigMap %s is %d bytes, over Kubernetes' 1 MiB", cm.Name, size)
			}
		}
		for name, src := range sources {
			content, ok := got[name]
			switch {
			case !ok:
				t.Errorf("dashboards/%s is in no ConfigMap labelled grafana_dashboard: %s", name, helmSyncHint)
			case content != strings.TrimRight(src, "\n"):
				t.Errorf("the ConfigMap's %s differs from dashboards/%s: %s", name, name, helmSyncHint)
			}
		}
		for name := range got {
			if _, ok := sources[name]; !ok {
				t.Errorf("the chart ships dashboard %s, which is not in dashboards/: delete it from deploy/helm/cpra-agent/files/dashboards/", name)
			}
		}
	})

	t.Run("dashboard-label", func(t *testing.T) {
		m := helmTemplate(t, `dashboards: {enabled: true, label: grafana_dashboards, labelValue: "yes"}`)
		n := 0
		for _, cm := range helmAll[corev1.ConfigMap](m) {
			if _, old := cm.Labels["grafana_dashboard"]; old {
				t.Errorf("ConfigMap %s keeps the default label", cm.Name)
			}
			if cm.Labels["grafana_dashboards"] == "yes" {
				n++
			}
		}
		if want := len(helmSourceDashboards(t)); n != want {
			t.Errorf("%d ConfigMaps carry grafana_dashboards=yes, want %d", n, want)
		}
	})
}

// TestHelmTemplateEverything renders ci/everything-values.yaml (the values
// helm lint also checks): a sharded StatefulSet with ICMP, TLS and basic
// auth, the Prometheus Operator objects and the dashboards.
func TestHelmTemplateEverything(t *testing.T) {
	values, err := os.ReadFile(filepath.Join(helmChartDir, "ci", "everything-values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := helmTemplate(t, string(values))
	helmCheckSharding(t, m, 3)
	pod, sts := helmWorkload(t, m)
	c := helmAgent(t, pod)
	helmCheckSecurity(t, pod, true)
	helmCheckProbes(t, c, "tcpSocket", "")
	svc := helmCheckService(t, m)

	// Each pod is scraped once: the ServiceMonitor selects the metrics
	// Service and not the StatefulSet's headless one.
	sm := helmOne[monitoringv1.ServiceMonitor](t, m)
	headless := m.service(sts.Spec.ServiceName)
	if !helmSelects(sm.Spec.Selector.MatchLabels, svc.Labels) || helmSelects(sm.Spec.Selector.MatchLabels, headless.Labels) {
		t.Errorf("ServiceMonitor selector %v: want Service %s %v only, not %s %v",
			sm.Spec.Selector.MatchLabels, svc.Name, svc.Labels, headless.Name, headless.Labels)
	}
	if ep := sm.Spec.Endpoints[0]; ep.Scheme == nil || *ep.Scheme != "https" || ep.BasicAuth == nil || ep.TLSConfig == nil {
		t.Errorf("ServiceMonitor endpoint %+v, want https with basic auth and a TLS config", ep)
	}
	helmOne[monitoringv1.PrometheusRule](t, m)
	if n, want := len(helmAll[corev1.ConfigMap](m)), 2+len(helmSourceDashboards(t)); n != want {
		t.Errorf("%d ConfigMaps, want %d (config, monitors and one per dashboard)", n, want)
	}
	if pod.Spec.NodeSelector["kubernetes.io/os"] != "linux" || len(pod.Spec.Tolerations) != 1 ||
		pod.Spec.Affinity == nil || pod.Spec.Affinity.PodAntiAffinity == nil {
		t.Errorf("nodeSelector, tolerations or affinity not applied: %v %v %v", pod.Spec.NodeSelector, pod.Spec.Tolerations, pod.Spec.Affinity)
	}
	if pod.Annotations["example.com/team"] != "sre" {
		t.Errorf("podAnnotations not applied: %v", pod.Annotations)
	}
	if e := helmEnv(c, "OTEL_EXPORTER_OTLP_ENDPOINT"); e == nil {
		t.Error("extraEnv not applied")
	}
}

// TestHelmTemplateRefuses checks that values which cannot work stop the
// render with a message saying what to do.
func TestHelmTemplateRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, values, kube, want string
	}{
		{"sharding-before-1.28", "shards: 3", "1.27.0", "sharding needs Kubernetes 1.28 or later"},
		{"shards-0", "shards: 0", "", "shards"},
		{"config-shard", "config: {shard: {count: 2}}", "", "config.shard is set by the chart"},
		{"config-web", "config: {web: {listen_address: ':80'}}", "", "config.web is set by the chart"},
		{"shard-index-flag", "shards: 2\nextraArgs: [--shard.index=1]", "", "--shard.index=1 is set by the chart"},
		{"two-monitor-sources", "monitors: {existingSecret: a, existingConfigMap: b}", "", "at most one of"},
		{"no-monitors", "monitors: {config: null}", "", "monitors.config is empty"},
		{"web-config-empty", "webConfig: {enabled: true}", "", "webConfig.enabled needs"},
		{"scrape-without-credentials", "webConfig: {enabled: true, existingSecret: w, basicAuth: true}\nserviceMonitor: {enabled: true}",
			"", "set serviceMonitor.basicAuth"},
		{"unknown-key", "replica: 3", "", "replica"},
		{"replicas-and-shards", "replicas: 3\nshards: 2", "", "replicas (cluster mode) and shards/sharding (static shards) exclude each other"},
		{"config-cluster", "config: {cluster: {listen_address: ':7946'}}", "", "config.cluster is set by the chart"},
		{"cluster-flag", "replicas: 2\nextraArgs: [--cluster.join=x:7946]", "", "--cluster.join=x:7946 is set by the chart"},
		{"bad-probe-type", "probes: {type: exec}", "", "/probes/type"},
		{"bad-pull-policy", "image: {pullPolicy: Sometimes}", "", "/image/pullPolicy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args []string
			if tc.kube != "" {
				args = []string{"--kube-version", tc.kube}
			}
			_, err := helmTemplateArgs(t, tc.values, args...)
			if err == nil {
				t.Fatalf("helm template accepted %q", tc.values)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

// The quick start of docs/deploy.md and the chart README, as written:
// --set-file monitors.config=FILE puts the file's text, unchanged, in the
// monitors ConfigMap (issue #13, item 2).
func TestHelmSetFileMonitors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "monitors.yaml")
	text := "monitors:\n  - name: api\n    pulse_check: {type: http, config: {url: \"http://api:8080/health\"}}  # a comment stays\n"
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	m := helmTemplate(t, "", "--set-file", "monitors.config="+file)
	cm := m.configMap(helmRelease + "-cpra-agent-monitors")
	if cm == nil {
		cm = m.configMap(helmRelease + "-monitors")
	}
	if cm == nil {
		t.Fatalf("no monitors ConfigMap among %s", m.kinds())
	}
	if got := cm.Data["monitors.yaml"]; got != text {
		t.Errorf("monitors.yaml in the ConfigMap:\n%q\nwant the file as it is:\n%q", got, text)
	}
	// Nor a warning: a default that is an object would make Helm say
	// "cannot overwrite table with non table" (issue #24).
	cmd := exec.Command(helmBinary(t), "template", helmRelease, helmChartDir, "--set-file", "monitors.config="+file)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("helm template --set-file monitors.config=FILE: %v, standard error:\n%s", err, stderr.String())
	}
}
