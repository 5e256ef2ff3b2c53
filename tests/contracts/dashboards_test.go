package contracts

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// dashboardsDir holds the Grafana dashboards the repository ships.
var dashboardsDir = filepath.Join(repoRoot, "dashboards")

// The parts of Grafana's dashboard JSON model these tests read.
type (
	dashboard struct {
		ID            any      `json:"id"`
		UID           string   `json:"uid"`
		Title         string   `json:"title"`
		Tags          []string `json:"tags"`
		SchemaVersion int      `json:"schemaVersion"`
		Panels        []panel  `json:"panels"`
		Templating    struct {
			List []variable `json:"list"`
		} `json:"templating"`
		Annotations struct {
			List []annotation `json:"list"`
		} `json:"annotations"`
	}
	panel struct {
		ID         int            `json:"id"`
		Type       string         `json:"type"`
		Title      string         `json:"title"`
		Datasource *datasourceRef `json:"datasource"`
		GridPos    gridPos        `json:"gridPos"`
		Targets    []target       `json:"targets"`
		Repeat     string         `json:"repeat"`
		Collapsed  bool           `json:"collapsed"`
		Panels     []panel        `json:"panels"` // a collapsed row's panels
	}
	gridPos struct {
		X int `json:"x"`
		Y int `json:"y"`
		W int `json:"w"`
		H int `json:"h"`
	}
	target struct {
		Datasource *datasourceRef `json:"datasource"`
		Expr       string         `json:"expr"`
		RefID      string         `json:"refId"`
		Exemplar   bool           `json:"exemplar"`
	}
	datasourceRef struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	variable struct {
		Name       string          `json:"name"`
		Type       string          `json:"type"`
		Datasource *datasourceRef  `json:"datasource"`
		Query      json.RawMessage `json:"query"` // a string, or {"query": "..."} since Grafana 10
	}
	annotation struct {
		Name       string         `json:"name"`
		BuiltIn    int            `json:"builtIn"`
		Datasource *datasourceRef `json:"datasource"`
		Expr       string         `json:"expr"`
	}
)

// wantDatasource is how every panel, query and query variable must name its
// data source: through the dashboard's `datasource` variable, so the dashboard
// imports into any Grafana with any Prometheus data source.
var wantDatasource = datasourceRef{Type: "prometheus", UID: "${datasource}"}

// dashboardFile is one parsed dashboards/*.json.
type dashboardFile struct {
	name string
	raw  []byte
	d    dashboard
}

func loadDashboards(t *testing.T) []dashboardFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dashboardsDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no dashboards in %s", dashboardsDir)
	}
	var out []dashboardFile
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f := dashboardFile{name: filepath.Base(p), raw: raw}
		if err := json.Unmarshal(raw, &f.d); err != nil {
			t.Errorf("%s: %v", f.name, err)
			continue
		}
		out = append(out, f)
	}
	return out
}

// allPanels is every panel of a dashboard, rows' nested panels included.
func allPanels(d dashboard) []panel {
	var out []panel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

func TestDashboardsAreValidJSON(t *testing.T) {
	for _, f := range loadDashboards(t) {
		if !json.Valid(f.raw) {
			t.Errorf("%s: not valid JSON", f.name)
		}
	}
}

func TestDashboardIdentity(t *testing.T) {
	owner := map[string]string{}
	for _, f := range loadDashboards(t) {
		d := f.d
		switch {
		case d.UID == "":
			t.Errorf("%s: no uid: Grafana would make one up at each import, breaking links", f.name)
		case len(d.UID) > 40:
			t.Errorf("%s: uid %q is longer than Grafana's 40 characters", f.name, d.UID)
		case owner[d.UID] != "":
			t.Errorf("%s: uid %q is also %s's", f.name, d.UID, owner[d.UID])
		default:
			owner[d.UID] = f.name
		}
		if d.ID != nil {
			t.Errorf("%s: id is %v, want null (an id belongs to one Grafana database; import assigns one)", f.name, d.ID)
		}
		if d.Title == "" {
			t.Errorf("%s: no title", f.name)
		}
		if !slices.Contains(d.Tags, "cpra") {
			t.Errorf("%s: tags %q lack \"cpra\" (the dashboards link to each other by it)", f.name, d.Tags)
		}
		if d.SchemaVersion < 36 {
			t.Errorf("%s: schemaVersion %d: want 36 or later (data source references as objects)", f.name, d.SchemaVersion)
		}
	}
}

func TestDashboardPanelIDsUnique(t *testing.T) {
	for _, f := range loadDashboards(t) {
		seen := map[int]string{}
		for _, p := range allPanels(f.d) {
			if p.ID <= 0 {
				t.Errorf("%s: panel %q has no id", f.name, p.Title)
				continue
			}
			if other, dup := seen[p.ID]; dup {
				t.Errorf("%s: panels %q and %q share id %d", f.name, other, p.Title, p.ID)
			}
			seen[p.ID] = p.Title
		}
	}
}

func TestDashboardDatasources(t *testing.T) {
	for _, f := range loadDashboards(t) {
		d := f.d
		check := func(what string, ds *datasourceRef) {
			t.Helper()
			if ds == nil {
				t.Errorf("%s: %s has no datasource, want %+v", f.name, what, wantDatasource)
			} else if *ds != wantDatasource {
				t.Errorf("%s: %s uses datasource %+v, want %+v", f.name, what, *ds, wantDatasource)
			}
		}
		for _, p := range allPanels(d) {
			// Rows and text panels run no query; if one names a data source, it
			// must still be the variable.
			queryless := p.Type == "row" || p.Type == "text"
			if !queryless || p.Datasource != nil {
				check(fmt.Sprintf("panel %q", p.Title), p.Datasource)
			}
			if !queryless && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no queries", f.name, p.Title)
			}
			for _, tg := range p.Targets {
				check(fmt.Sprintf("panel %q query %s", p.Title, tg.RefID), tg.Datasource)
			}
		}
		for _, v := range d.Templating.List {
			if v.Type == "query" {
				check(fmt.Sprintf("variable %s", v.Name), v.Datasource)
			}
		}
		for _, a := range d.Annotations.List {
			if a.BuiltIn == 0 {
				check(fmt.Sprintf("annotation %q", a.Name), a.Datasource)
			}
		}
	}
}

func TestDashboardVariables(t *testing.T) {
	for _, f := range loadDashboards(t) {
		vars := map[string]variable{}
		for _, v := range f.d.Templating.List {
			if _, dup := vars[v.Name]; dup {
				t.Errorf("%s: variable %s defined twice", f.name, v.Name)
			}
			vars[v.Name] = v
		}
		if v, ok := vars["datasource"]; !ok {
			t.Errorf("%s: no datasource variable", f.name)
		} else if v.Type != "datasource" || variableQuery(v) != "prometheus" {
			t.Errorf("%s: variable datasource is type %q query %q, want type datasource query prometheus", f.name, v.Type, variableQuery(v))
		}
		for _, name := range []string{"job", "instance"} {
			if v, ok := vars[name]; !ok {
				t.Errorf("%s: no %s variable", f.name, name)
			} else if v.Type != "query" {
				t.Errorf("%s: variable %s is type %q, want query", f.name, name, v.Type)
			}
		}
		for _, p := range allPanels(f.d) {
			if _, ok := vars[p.Repeat]; p.Repeat != "" && !ok {
				t.Errorf("%s: panel %q repeats over undefined variable %s", f.name, p.Title, p.Repeat)
			}
		}
	}
}

// variableQuery is a variable's query, in either of Grafana's forms.
func variableQuery(v variable) string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var obj struct {
		Query string `json:"query"`
	}
	if json.Unmarshal(v.Query, &obj) == nil {
		return obj.Query
	}
	return ""
}

// grafanaVar matches $name, ${name}, ${name:format} and [[name]].
var grafanaVar = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)`)

// builtinValues stands in for Grafana's global variables.
var builtinValues = map[string]string{
	"__rate_interval": "1m",
	"__interval":      "1m",
	"__interval_ms":   "60000",
	"__range":         "1h",
	"__range_s":       "3600",
	"__range_ms":      "3600000",
}

// variableValues are plausible values of the dashboards' own variables. The
// job and instance values are also how TestDashboardQueries recognises that a
// selector is filtered by those variables.
var variableValues = map[string]string{
	"datasource": "prometheus",
	"job":        "cpra-agent",
	"instance":   "127.0.0.1:9469",
	"pipeline":   "pulse",
	"monitor":    "checkout",
}

// substitute replaces Grafana variables with plausible values, so that the
// result is PromQL, and reports variables the dashboard does not define.
func substitute(expr string, defined map[string]bool) (string, []string) {
	var undefined []string
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVar.FindStringSubmatch(m)
		name := sub[1] + sub[2] + sub[3]
		if v, ok := builtinValues[name]; ok {
			return v
		}
		if !defined[name] {
			undefined = append(undefined, name)
			return m
		}
		if v, ok := variableValues[name]; ok {
			return v
		}
		return "value"
	})
	return out, undefined
}

// labelValuesQuery matches a Prometheus variable's label_values(selector, label).
var labelValuesQuery = regexp.MustCompile(`^\s*label_values\(\s*(.*?)\s*,\s*(\w+)\s*\)\s*$`)

func TestDashboardQueries(t *testing.T) {
	c := loadCatalogue(t)
	for _, f := range loadDashboards(t) {
		defined := map[string]bool{}
		for _, v := range f.d.Templating.List {
			defined[v.Name] = true
		}
		// checkQuery checks one PromQL expression; filtered says whether every
		// selector must be narrowed by the job and instance variables.
		checkQuery := func(where, expr string, filtered bool) parser.Expr {
			t.Helper()
			if strings.TrimSpace(expr) == "" {
				t.Errorf("%s: %s: empty expr", f.name, where)
				return nil
			}
			promql, undefined := substitute(expr, defined)
			for _, name := range undefined {
				t.Errorf("%s: %s: variable $%s is not defined by the dashboard", f.name, where, name)
			}
			parsed, errs := checkExpr(c, promql)
			for _, err := range errs {
				t.Errorf("%s: %s: %v\n\texpr: %s", f.name, where, err, expr)
			}
			if parsed == nil || !filtered {
				return parsed
			}
			for _, vs := range selectors(parsed) {
				for _, l := range []string{"job", "instance"} {
					if !hasMatcher(vs, l, labels.MatchRegexp, variableValues[l]) {
						t.Errorf("%s: %s: %s lacks %s=~\"$%s\"\n\texpr: %s", f.name, where, vs, l, l, expr)
					}
				}
			}
			return parsed
		}

		for _, p := range allPanels(f.d) {
			refs := map[string]bool{}
			exemplarWanted, exemplarSet := false, false
			for _, tg := range p.Targets {
				where := fmt.Sprintf("panel %q query %s", p.Title, tg.RefID)
				if refs[tg.RefID] || tg.RefID == "" {
					t.Errorf("%s: %s: refId missing or used twice", f.name, where)
				}
				refs[tg.RefID] = true
				parsed := checkQuery(where, tg.Expr, true)
				if parsed == nil {
					continue
				}
				for _, vs := range selectors(parsed) {
					if selectorName(vs) == "cpra_check_duration_seconds_bucket" {
						exemplarWanted = true
					}
				}
				exemplarSet = exemplarSet || tg.Exemplar
			}
			// Check durations carry trace IDs as exemplars: a panel of them shows them.
			if exemplarWanted && !exemplarSet {
				t.Errorf("%s: panel %q shows cpra_check_duration_seconds but no query has \"exemplar\": true", f.name, p.Title)
			}
		}
		for _, a := range f.d.Annotations.List {
			if a.BuiltIn == 0 {
				checkQuery(fmt.Sprintf("annotation %q", a.Name), a.Expr, true)
			}
		}
		for _, v := range f.d.Templating.List {
			if v.Type != "query" {
				continue
			}
			where := fmt.Sprintf("variable %s", v.Name)
			q := variableQuery(v)
			m := labelValuesQuery.FindStringSubmatch(q)
			if m == nil {
				t.Errorf("%s: %s: query %q: want label_values(selector, label)", f.name, where, q)
				continue
			}
			// label_values(selector, label): the label must be one the selected
			// series has, so write it as a by() clause and check that.
			checkQuery(where, fmt.Sprintf("count by (%s) (%s)", m[2], m[1]), false)
		}
	}
}

// hasMatcher reports whether a selector has the matcher name<op>"value".
func hasMatcher(vs *parser.VectorSelector, name string, typ labels.MatchType, value string) bool {
	for _, m := range vs.LabelMatchers {
		if m.Name == name && m.Type == typ && m.Value == value {
			return true
		}
	}
	return false
}

// TestDashboardLayout checks every panel lies within Grafana's 24-column grid
// and overlaps no other: the top level (expanded rows and their panels) is one
// grid, and each collapsed row's panels another.
func TestDashboardLayout(t *testing.T) {
	for _, f := range loadDashboards(t) {
		grids := [][]panel{f.d.Panels}
		for _, p := range f.d.Panels {
			if len(p.Panels) > 0 {
				grids = append(grids, p.Panels)
			}
		}
		for _, grid := range grids {
			for i, p := range grid {
				g := p.GridPos
				if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
					t.Errorf("%s: panel %q: gridPos %+v is outside the 24-column grid", f.name, p.Title, g)
				}
				for _, q := range grid[:i] {
					if overlap(p.GridPos, q.GridPos) {
						t.Errorf("%s: panels %q %+v and %q %+v overlap", f.name, q.Title, q.GridPos, p.Title, p.GridPos)
					}
				}
			}
		}
	}
}

func overlap(a, b gridPos) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

func TestSubstitute(t *testing.T) {
	defined := map[string]bool{"job": true, "instance": true, "pipeline": true, "other": true}
	got, undefined := substitute(`rate(x{job=~"$job", instance=~"${instance}", pipeline="[[pipeline]]", o="${other:regex}", n="$nope"}[$__rate_interval])`, defined)
	want := `rate(x{job=~"cpra-agent", instance=~"127.0.0.1:9469", pipeline="pulse", o="value", n="$nope"}[1m])`
	if got != want || !slices.Equal(undefined, []string{"nope"}) {
		t.Errorf("substitute:\n got %s %q\nwant %s [nope]", got, undefined, want)
	}
}
