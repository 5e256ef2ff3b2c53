// Package rules_test checks the Prometheus alerting rules in this directory:
// promtool (2.42, Debian's) accepts them and passes their unit tests in
// tests/, every alert is documented and tested, and every metric they use is
// one the agent exports. It reads the rules as YAML and finds metric names
// with a regular expression, so the module does not depend on
// prometheus/prometheus.
package rules_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"go.yaml.in/yaml/v3"
)

const (
	rulesGlob     = "*.rules.yml"
	testsGlob     = "tests/*.test.yml"
	runbooksFile  = "../docs/runbooks.md"
	catalogueFile = "../telemetry/testdata/metrics.txt"
	runbookPrefix = "https://github.com/cpra-agent/cpra-agent/blob/main/docs/runbooks.md#"

	promtoolMissing = "promtool not installed: apt-get install prometheus (Debian's package ships promtool), or run `make test`, which installs it"
)

// severities are the values of the severity label, as the agent's own codes
// use them (red critical, yellow warning, cyan info).
var severities = []string{"critical", "warning", "info"}

// ruleFile is the rule file format of Prometheus 2.42. Decoding is strict, so
// a field that 2.42 does not know (keep_firing_for, query_offset, group
// labels) fails here even where promtool is not installed.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Limit    int    `yaml:"limit"`
		Rules    []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Record      string            `yaml:"record"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// unitTestFile is the part of promtool's unit test format this test reads.
type unitTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// loadedRule is one rule with the file it came from.
type loadedRule struct {
	rule
	file, group string
}

func (r loadedRule) String() string {
	name := r.Alert
	if name == "" {
		name = r.Record
	}
	return fmt.Sprintf("%s: group %s: %s", r.file, r.group, name)
}

func globbed(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no file matches %s", pattern)
	}
	return files
}

func decodeStrict(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// loadRules reads every rule file, strictly.
func loadRules(t *testing.T) []loadedRule {
	t.Helper()
	var rules []loadedRule
	for _, path := range globbed(t, rulesGlob) {
		var f ruleFile
		if err := decodeStrict(path, &f); err != nil {
			t.Fatal(err)
		}
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				rules = append(rules, loadedRule{rule: r, file: path, group: g.Name})
			}
		}
	}
	return rules
}

func alerts(t *testing.T) []loadedRule {
	t.Helper()
	var out []loadedRule
	for _, r := range loadRules(t) {
		if r.Alert != "" {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		t.Fatal("no alerting rules found")
	}
	return out
}

func loadUnitTests(t *testing.T) map[string]unitTestFile {
	t.Helper()
	out := map[string]unitTestFile{}
	for _, path := range globbed(t, testsGlob) {
		var f unitTestFile
		// Not strict: promtool's format has more fields than this test reads.
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(data, &f); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out[path] = f
	}
	return out
}

func TestRuleFilesAreWellFormed(t *testing.T) {
	groups := map[string]string{}
	for _, path := range globbed(t, rulesGlob) {
		var f ruleFile
		if err := decodeStrict(path, &f); err != nil {
			t.Errorf("not a Prometheus 2.42 rule file: %v", err)
			continue
		}
		if len(f.Groups) == 0 {
			t.Errorf("%s: no groups", path)
		}
		for _, g := range f.Groups {
			if prev, ok := groups[g.Name]; ok {
				t.Errorf("%s: group %q is also in %s", path, g.Name, prev)
			}
			groups[g.Name] = path
			for i, r := range g.Rules {
				if (r.Alert == "") == (r.Record == "") {
					t.Errorf("%s: group %s: rule %d: needs exactly one of alert and record", path, g.Name, i)
				}
				if strings.TrimSpace(r.Expr) == "" {
					t.Errorf("%s: group %s: rule %d: empty expr", path, g.Name, i)
				}
			}
		}
	}
}

func TestAlertsHaveSeverityAndAnnotations(t *testing.T) {
	for _, a := range alerts(t) {
		if !slices.Contains(severities, a.Labels["severity"]) {
			t.Errorf("%s: severity label %q, want one of %v", a, a.Labels["severity"], severities)
		}
		for _, key := range []string{"summary", "description", "runbook_url"} {
			if strings.TrimSpace(a.Annotations[key]) == "" {
				t.Errorf("%s: no %s annotation", a, key)
			}
		}
		if u := a.Annotations["runbook_url"]; u != "" && !strings.HasPrefix(u, runbookPrefix) {
			t.Errorf("%s: runbook_url %q does not start with %s", a, u, runbookPrefix)
		}
	}
}

func TestRunbookAnchorsExist(t *testing.T) {
	data, err := os.ReadFile(runbooksFile)
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(string(data))
	for _, a := range alerts(t) {
		anchor, ok := strings.CutPrefix(a.Annotations["runbook_url"], runbookPrefix)
		if !ok {
			continue // reported by TestAlertsHaveSeverityAndAnnotations
		}
		if !anchors[anchor] {
			t.Errorf("%s: runbook_url anchor #%s is not a heading of %s", a, anchor, runbooksFile)
		}
		// One section per alert, titled with its name.
		if want := strings.ToLower(a.Alert); anchor != want {
			t.Errorf("%s: runbook_url anchor #%s, want #%s (the section titled %s)", a, anchor, want, a.Alert)
		}
	}
}

// TestRunbookLinksResolve checks the relative links of docs/runbooks.md: the
// file exists and, for a Markdown file, so does the heading it points to.
func TestRunbookLinksResolve(t *testing.T) {
	data, err := os.ReadFile(runbooksFile)
	if err != nil {
		t.Fatal(err)
	}
	links := linkRE.FindAllStringSubmatch(string(data), -1)
	if len(links) == 0 {
		t.Fatalf("%s: no links found", runbooksFile)
	}
	for _, m := range links {
		target, frag := m[1], strings.TrimPrefix(m[2], "#")
		if strings.Contains(target, "://") {
			continue
		}
		path := runbooksFile
		if target != "" {
			path = filepath.Join(filepath.Dir(runbooksFile), target)
		}
		doc, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: link %s: %v", runbooksFile, m[0], err)
			continue
		}
		if frag != "" && strings.HasSuffix(path, ".md") && !markdownAnchors(string(doc))[frag] {
			t.Errorf("%s: link %s: no heading with anchor #%s in %s", runbooksFile, m[0], frag, path)
		}
	}
}

func TestMetricsAreInCatalogue(t *testing.T) {
	cat := readCatalogue(t)
	seen := 0
	for _, a := range loadRules(t) {
		// Annotations count too: templates may query the agent's metrics.
		texts := []string{a.Expr}
		for _, v := range a.Annotations {
			texts = append(texts, v)
		}
		for _, text := range texts {
			for _, name := range metricNames(text) {
				seen++
				if _, ok := cat.family(name); !ok {
					t.Errorf("%s: %s is not in %s", a, name, catalogueFile)
				}
			}
			for _, sel := range selectors(text) {
				fam, ok := cat.family(sel.metric)
				if !ok {
					continue // reported above
				}
				for _, l := range sel.labels {
					if !fam.allows(sel.metric, l) {
						t.Errorf("%s: %s has no label %q (catalogue: %v)", a, sel.metric, l, fam.labels)
					}
				}
			}
		}
	}
	if seen == 0 {
		t.Fatal("no cpra_ metric found in any rule: the pattern or the rules are wrong")
	}
}

// TestEveryAlertIsTested wants, for every alerting rule, a promtool test in
// which it fires (checked labels, and a summary among the checked
// annotations) and one in which it stays silent; and every rule file loaded
// by some test file.
func TestEveryAlertIsTested(t *testing.T) {
	type key struct{ alert, severity string }
	firing := map[key]bool{}
	silent := map[string]bool{}
	loaded := map[string]bool{}
	for path, f := range loadUnitTests(t) {
		for _, rf := range f.RuleFiles {
			if !filepath.IsAbs(rf) {
				rf = filepath.Join(filepath.Dir(path), rf)
			}
			loaded[filepath.Clean(rf)] = true
		}
		for _, tc := range f.Tests {
			for _, at := range tc.AlertRuleTest {
				if len(at.ExpAlerts) == 0 {
					silent[at.Alertname] = true
				}
				for _, exp := range at.ExpAlerts {
					if exp.ExpAnnotations["summary"] == "" {
						t.Errorf("%s: test %q: %s at %s: an expected alert without a summary", path, tc.Name, at.Alertname, at.EvalTime)
						continue
					}
					firing[key{at.Alertname, exp.ExpLabels["severity"]}] = true
				}
			}
		}
	}
	for _, path := range globbed(t, rulesGlob) {
		if !loaded[filepath.Clean(path)] {
			t.Errorf("%s: no test file lists it in rule_files", path)
		}
	}
	for _, a := range alerts(t) {
		if !firing[key{a.Alert, a.Labels["severity"]}] {
			t.Errorf("%s: no promtool test expects it to fire with severity %q and a summary", a, a.Labels["severity"])
		}
		if !silent[a.Alert] {
			t.Errorf("%s: no promtool test expects it to stay silent", a)
		}
	}
}

func promtool(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("promtool tests are skipped with -short")
	}
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip(promtoolMissing)
	}
	return path
}

func TestPromtoolCheckRules(t *testing.T) {
	bin := promtool(t)
	for _, path := range globbed(t, rulesGlob) {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			out, err := exec.CommandContext(t.Context(), bin, "check", "rules", path).CombinedOutput()
			if err != nil {
				t.Errorf("promtool check rules %s: %v\n%s", path, err, out)
			}
		})
	}
}

func TestPromtoolTestRules(t *testing.T) {
	bin := promtool(t)
	for _, path := range globbed(t, testsGlob) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			out, err := exec.CommandContext(t.Context(), bin, "test", "rules", path).CombinedOutput()
			if err != nil {
				t.Errorf("promtool test rules %s: %v\n%s", path, err, out)
			}
		})
	}
}

// catalogue is the golden list of the agent's metric families.
type catalogue map[string]familyInfo

type familyInfo struct {
	typ    string
	labels []string
}

// family finds the family a series name belongs to: the name itself, or a
// histogram's (or summary's) _bucket, _sum and _count series.
func (c catalogue) family(name string) (familyInfo, bool) {
	if f, ok := c[name]; ok {
		return f, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if f, ok := c[base]; ok && (f.typ == "histogram" || (f.typ == "summary" && suffix != "_bucket")) {
			return f, true
		}
	}
	return familyInfo{}, false
}

// allows says whether a selector on the series name may match on label l:
// the family's labels, the target labels Prometheus adds, and le on buckets.
func (f familyInfo) allows(name, l string) bool {
	switch {
	case slices.Contains(f.labels, l), l == "job", l == "instance":
		return true
	case l == "le":
		return strings.HasSuffix(name, "_bucket")
	}
	return false
}

func readCatalogue(t *testing.T) catalogue {
	t.Helper()
	f, err := os.Open(catalogueFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cat := catalogue{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, " ", 4)
		if len(fields) < 3 || !strings.HasPrefix(fields[2], "{") || !strings.HasSuffix(fields[2], "}") {
			t.Fatalf("%s:%d: want `name type {labels} help`, got %q", catalogueFile, n, line)
		}
		var labels []string
		if inner := strings.Trim(fields[2], "{}"); inner != "" {
			labels = strings.Split(inner, ",")
		}
		cat[fields[0]] = familyInfo{typ: fields[1], labels: labels}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cat) == 0 {
		t.Fatalf("%s: no metric families", catalogueFile)
	}
	return cat
}

var (
	metricRE = regexp.MustCompile(`cpra_[a-z0-9_]+`)
	// A metric name directly followed by a label selector.
	selectorRE = regexp.MustCompile(`(cpra_[a-z0-9_]+)\s*\{([^}]*)\}`)
	matcherRE  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)`)
	quotedRE   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
)

// metricNames lists the distinct cpra_ names in a PromQL expression or template.
func metricNames(text string) []string {
	names := metricRE.FindAllString(text, -1)
	slices.Sort(names)
	return slices.Compact(names)
}

type selector struct {
	metric string
	labels []string
}

// selectors finds `cpra_name{label="value", ...}` and the label names it
// matches on. Quoted values are blanked first, so a value holding "=" or "}"
// cannot be mistaken for a matcher.
func selectors(text string) []selector {
	text = quotedRE.ReplaceAllStringFunc(text, func(q string) string { return q[:1] + q[len(q)-1:] })
	var out []selector
	for _, m := range selectorRE.FindAllStringSubmatch(text, -1) {
		s := selector{metric: m[1]}
		for _, lm := range matcherRE.FindAllStringSubmatch(m[2], -1) {
			s.labels = append(s.labels, lm[1])
		}
		out = append(out, s)
	}
	return out
}

// linkRE finds Markdown links: target and #fragment.
var linkRE = regexp.MustCompile(`\]\(([^)#\s]*)(#[^)\s]*)?\)`)

var headingRE = regexp.MustCompile(`^#{1,6}\s+(.+?)\s*#*\s*$`)

// markdownAnchors returns the anchors GitHub gives the headings of a
// Markdown document: lower case, punctuation other than "-" and "_" removed,
// spaces turned into "-", and "-1", "-2" ... appended to repeats. Lines in
// fenced code blocks are not headings.
func markdownAnchors(doc string) map[string]bool {
	anchors := map[string]bool{}
	counts := map[string]int{}
	fence := ""
	for line := range strings.SplitSeq(doc, "\n") {
		trimmed := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		m := headingRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		a := githubAnchor(m[1])
		if n := counts[a]; n > 0 {
			counts[a]++
			a = fmt.Sprintf("%s-%d", a, n)
		} else {
			counts[a] = 1
		}
		anchors[a] = true
	}
	return anchors
}

func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-', r == '_', unicode.IsLetter(r), unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGitHubAnchor(t *testing.T) {
	for _, tc := range []struct{ heading, want string }{
		{"CPRAAgentDown", "cpraagentdown"},
		{"What to check", "what-to-check"},
		{"Queue `depth` (pulse): how?", "queue-depth-pulse-how"},
		{"pipelines.pulse.workers.max", "pipelinespulseworkersmax"},
		{"cpra_queue_dropped_total", "cpra_queue_dropped_total"},
		{"Job selector — convention", "job-selector--convention"},
	} {
		if got := githubAnchor(tc.heading); got != tc.want {
			t.Errorf("githubAnchor(%q) = %q, want %q", tc.heading, got, tc.want)
		}
	}
}

func TestMarkdownAnchors(t *testing.T) {
	doc := "# Runbooks\n\n## Fix\n\ntext\n\n```sh\n# not a heading\n```\n\n## Fix\n### CPRAAgentDown ###\n"
	got := markdownAnchors(doc)
	want := map[string]bool{"runbooks": true, "fix": true, "fix-1": true, "cpraagentdown": true}
	if len(got) != len(want) {
		t.Errorf("markdownAnchors = %v, want %v", got, want)
	}
	for a := range want {
		if !got[a] {
			t.Errorf("markdownAnchors: %q missing from %v", a, got)
		}
	}
}

func TestMetricNamesAndSelectors(t *testing.T) {
	expr := `histogram_quantile(0.95, sum by (le) (rate(cpra_schedule_lag_seconds_bucket[5m]))) > 30
		and cpra_breaker_state{pipeline!="code", destination="a=b,c}"} > 0 or up{job="x"}`
	if got, want := metricNames(expr), []string{"cpra_breaker_state", "cpra_schedule_lag_seconds_bucket"}; !slices.Equal(got, want) {
		t.Errorf("metricNames = %v, want %v", got, want)
	}
	sels := selectors(expr)
	if len(sels) != 1 || sels[0].metric != "cpra_breaker_state" || !slices.Equal(sels[0].labels, []string{"pipeline", "destination"}) {
		t.Errorf("selectors = %+v, want cpra_breaker_state on pipeline and destination", sels)
	}

	cat := catalogue{
		"cpra_schedule_lag_seconds": {typ: "histogram"},
		"cpra_checks_total":         {typ: "counter", labels: []string{"result", "type"}},
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"cpra_schedule_lag_seconds", true},
		{"cpra_schedule_lag_seconds_bucket", true},
		{"cpra_schedule_lag_seconds_count", true},
		{"cpra_checks_total", true},
		{"cpra_checks_total_count", false}, // not a histogram
		{"cpra_checks", false},
	} {
		if _, ok := cat.family(tc.name); ok != tc.ok {
			t.Errorf("family(%q) found = %v, want %v", tc.name, ok, tc.ok)
		}
	}
	checks := cat["cpra_checks_total"]
	if !checks.allows("cpra_checks_total", "result") || !checks.allows("cpra_checks_total", "instance") || checks.allows("cpra_checks_total", "pipeline") {
		t.Error("allows: want result and instance, not pipeline, on cpra_checks_total")
	}
	lag := cat["cpra_schedule_lag_seconds"]
	if !lag.allows("cpra_schedule_lag_seconds_bucket", "le") || lag.allows("cpra_schedule_lag_seconds_sum", "le") {
		t.Error("allows: want le on the _bucket series only")
	}
}
