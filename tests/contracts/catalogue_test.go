package contracts

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// repoRoot is the repository's root, relative to this module.
const repoRoot = "../.."

// cataloguePath is the agent's golden list of metric families.
var cataloguePath = filepath.Join(repoRoot, "telemetry", "testdata", "metrics.txt")

// family is one line of the catalogue.
type family struct {
	name   string
	typ    string // counter, gauge, histogram, summary
	labels []string
}

// catalogue maps a family name to its family.
type catalogue map[string]family

// loadCatalogue reads the catalogue: "name type {label,...} help", one family a
// line, # for comments.
func loadCatalogue(t *testing.T) catalogue {
	t.Helper()
	f, err := os.Open(cataloguePath)
	if err != nil {
		t.Fatalf("metric catalogue: %v", err)
	}
	defer f.Close()
	c := catalogue{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, " ", 4)
		if len(fields) < 3 || !strings.HasPrefix(fields[2], "{") || !strings.HasSuffix(fields[2], "}") {
			t.Fatalf("%s:%d: want `name type {labels} help`, got %q", cataloguePath, n, line)
		}
		fam := family{name: fields[0], typ: fields[1]}
		if ls := strings.Trim(fields[2], "{}"); ls != "" {
			fam.labels = strings.Split(ls, ",")
		}
		c[fam.name] = fam
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("metric catalogue: %v", err)
	}
	if len(c) == 0 {
		t.Fatalf("metric catalogue %s is empty", cataloguePath)
	}
	return c
}

// series is what a metric name in a query refers to.
type series struct {
	fam    family
	suffix string // "_bucket", "_sum" or "_count" for a histogram's series, else ""
	// foreign is true for metrics the agent exposes but the catalogue does not
	// list (go_*, process_*): their labels and types are not checked.
	foreign bool
}

// probeMetrics are served by GET /probe, unlabelled, as blackbox_exporter's are.
var probeMetrics = map[string]string{"probe_success": "gauge", "probe_duration_seconds": "gauge"}

// resolve finds the family a metric name selects. The catalogue lists
// histograms by their base name; a query selects name_bucket, _sum or _count.
func (c catalogue) resolve(name string) (series, error) {
	if f, ok := c[name]; ok {
		if f.typ == "histogram" || f.typ == "summary" {
			return series{}, fmt.Errorf("%s is a %s: select %s_bucket, _sum or _count", name, f.typ, name)
		}
		return series{fam: f}, nil
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if f, ok := c[base]; ok && (f.typ == "histogram" || (f.typ == "summary" && suffix != "_bucket")) {
			return series{fam: f, suffix: suffix}, nil
		}
	}
	if typ, ok := probeMetrics[name]; ok {
		return series{fam: family{name: name, typ: typ}}, nil
	}
	if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
		return series{fam: family{name: name, typ: "untyped"}, foreign: true}, nil
	}
	return series{}, fmt.Errorf("metric %s is not in %s (nor a go_*, process_* or /probe metric)", name, cataloguePath)
}

// labelNames is every label a series can carry once Prometheus has scraped it;
// nil means unknown.
func (s series) labelNames() []string {
	if s.foreign {
		return nil
	}
	names := append([]string{"__name__", "job", "instance"}, s.fam.labels...)
	if s.suffix == "_bucket" {
		names = append(names, "le")
	}
	return names
}

// counterLike reports whether rate, irate and increase make sense on it (or,
// for a foreign metric, might).
func (s series) counterLike() bool {
	return s.foreign || s.fam.typ == "counter" || s.suffix != ""
}

// selectorName is the metric name a vector selector selects, written either as
// name{...} or {__name__="name"}.
func selectorName(vs *parser.VectorSelector) string {
	if vs.Name != "" {
		return vs.Name
	}
	for _, m := range vs.LabelMatchers {
		if m.Name == "__name__" && m.Type == labels.MatchEqual {
			return m.Value
		}
	}
	return ""
}

// promqlParser is the parser Prometheus itself uses, with default options.
var promqlParser = parser.NewParser(parser.Options{})

// checkExpr parses a PromQL expression and checks it against the catalogue:
// every selector names a metric the agent exposes, every label matcher and
// every by/on label exists on the series beneath it, rate, irate and increase
// are only taken of counters and histogram series, and histogram_quantile only
// of _bucket series. It returns the parsed expression and every problem found.
func checkExpr(c catalogue, expr string) (parser.Expr, []error) {
	parsed, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return nil, []error{fmt.Errorf("PromQL does not parse: %w", err)}
	}
	var errs []error
	report := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	parser.Inspect(parsed, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			name := selectorName(n)
			if name == "" {
				report("selector %s has no metric name", n)
				return nil
			}
			s, err := c.resolve(name)
			if err != nil {
				report("%v", err)
				return nil
			}
			if known := s.labelNames(); known != nil {
				for _, m := range n.LabelMatchers {
					if !slices.Contains(known, m.Name) {
						report("%s has no label %q (it has %s)", name, m.Name, strings.Join(known[1:], ", "))
					}
				}
			}
		case *parser.Call:
			switch n.Func.Name {
			case "rate", "irate", "increase":
				ms, ok := n.Args[0].(*parser.MatrixSelector)
				if !ok {
					return nil // a subquery: its type is whatever the inner expression makes it
				}
				vs := ms.VectorSelector.(*parser.VectorSelector)
				if s, err := c.resolve(selectorName(vs)); err == nil && !s.counterLike() {
					report("%s() of %s, a %s: only counters and histogram series increase", n.Func.Name, selectorName(vs), s.fam.typ)
				}
			case "histogram_quantile":
				for _, vs := range selectors(n.Args[1]) {
					if s, err := c.resolve(selectorName(vs)); err == nil && s.suffix != "_bucket" {
						report("histogram_quantile over %s: want a histogram's _bucket series", selectorName(vs))
					}
				}
			}
		case *parser.AggregateExpr:
			if !n.Without {
				checkGrouping(c, report, "by", n.Grouping, n.Expr)
			}
		case *parser.BinaryExpr:
			if vm := n.VectorMatching; vm != nil && vm.On {
				checkGrouping(c, report, "on", vm.MatchingLabels, n.LHS, n.RHS)
			}
		}
		return nil
	})
	return parsed, errs
}

// checkGrouping reports by/on labels that no series beneath can carry.
func checkGrouping(c catalogue, report func(string, ...any), clause string, labels []string, under ...parser.Expr) {
	var available []string
	for _, e := range under {
		for _, vs := range selectors(e) {
			s, err := c.resolve(selectorName(vs))
			if err != nil {
				return // reported where the selector is visited
			}
			names := s.labelNames()
			if names == nil {
				return // a foreign metric: labels unknown
			}
			available = append(available, names...)
		}
	}
	for _, l := range labels {
		if !slices.Contains(available, l) {
			report("%s (%s): no series beneath has the label %q", clause, strings.Join(labels, ", "), l)
		}
	}
}

// selectors lists the vector selectors in an expression.
func selectors(e parser.Expr) []*parser.VectorSelector {
	var out []*parser.VectorSelector
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok {
			out = append(out, vs)
		}
		return nil
	})
	return out
}

// TestCheckExpr makes sure the checks above fail when they should, so that a
// dashboard passing them means something.
func TestCheckExpr(t *testing.T) {
	c := loadCatalogue(t)
	for _, tc := range []struct {
		expr string
		want string // substring of the first error; "" for none
	}{
		{`sum by (type, result) (rate(cpra_checks_total{job="a"}[1m]))`, ""},
		{`histogram_quantile(0.9, sum by (le) (rate(cpra_check_duration_seconds_bucket[1m])))`, ""},
		{`cpra_queue_depth{pipeline="pulse"} > on (job, instance, pipeline) cpra_backpressure_high_water_mark`, ""},
		{`rate(go_gc_duration_seconds_count[5m]) + process_resident_memory_bytes + probe_success`, ""},
		{`{__name__="cpra_monitors", state="down"}`, ""},
		{`cpra_no_such_metric`, "not in"},
		{`rate(cpra_checks_total[1m]`, "does not parse"},
		{`cpra_checks_total{status="ok"}`, `no label "status"`},
		{`rate(cpra_queue_depth[1m])`, "only counters"},
		{`cpra_check_duration_seconds`, "is a histogram"},
		{`cpra_checks_total_bucket`, "not in"},
		{`histogram_quantile(0.9, rate(cpra_check_duration_seconds_sum[1m]))`, "want a histogram's _bucket"},
		{`sum by (destination) (cpra_pool_workers)`, `no series beneath has the label "destination"`},
		{`{job="cpra"}`, "no metric name"},
	} {
		_, errs := checkExpr(c, tc.expr)
		switch {
		case tc.want == "" && len(errs) > 0:
			t.Errorf("%s: unexpected errors %v", tc.expr, errs)
		case tc.want != "" && len(errs) == 0:
			t.Errorf("%s: no error, want one containing %q", tc.expr, tc.want)
		case tc.want != "" && !strings.Contains(errs[0].Error(), tc.want):
			t.Errorf("%s: error %q, want one containing %q", tc.expr, errs[0], tc.want)
		}
	}
}
