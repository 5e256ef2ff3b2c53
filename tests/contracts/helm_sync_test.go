package contracts

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestHelmChartCopiesInSync fails when the chart's copies of the alerting
// rules and dashboards differ from their sources. Helm can only read files
// inside the chart, so deploy/helm/cpra-agent/files/ keeps copies, and
// make chart-sync refreshes them. It needs no helm.
func TestHelmChartCopiesInSync(t *testing.T) {
	for _, tc := range []struct{ source, copies, pattern string }{
		{"alerting-rules", "files/alerting-rules", "*.rules.yml"},
		{"dashboards", "files/dashboards", "*.json"},
	} {
		t.Run(tc.source, func(t *testing.T) {
			srcDir := filepath.Join(helmRepoRoot, tc.source)
			dstDir := filepath.Join(helmChartDir, tc.copies)
			sources := helmReadGlob(t, srcDir, tc.pattern)
			copies := helmReadGlob(t, dstDir, tc.pattern)
			if len(sources) == 0 {
				t.Fatalf("no %s/%s", tc.source, tc.pattern)
			}
			for name, data := range sources {
				c, ok := copies[name]
				switch {
				case !ok:
					t.Errorf("%s/%s has no copy in %s: %s", tc.source, name, dstDir, helmSyncHint)
				case !bytes.Equal(c, data):
					t.Errorf("%s/%s differs from %s/%s: %s", dstDir, name, tc.source, name, helmSyncHint)
				}
			}
			for name := range copies {
				if _, ok := sources[name]; !ok {
					t.Errorf("%s/%s has no source %s/%s any more: %s (it removes copies without a source)",
						dstDir, name, tc.source, name, helmSyncHint)
				}
			}
		})
	}
}

// helmReadGlob reads the files of dir matching pattern, by base name.
func helmReadGlob(t *testing.T, dir, pattern string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = data
	}
	return out
}
