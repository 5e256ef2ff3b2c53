package spec

import (
	"strings"
	"testing"
)

func TestShorten(t *testing.T) {
	long := strings.Repeat("a", 50<<20)
	tests := []struct {
		name, in, want string
	}{
		{"short message unchanged", `interval: invalid duration "zz"`, `interval: invalid duration "zz"`},
		{"long double-quoted value", `invalid duration "` + long + `"`,
			`invalid duration "` + strings.Repeat("a", 40) + `…" (52428800 bytes)`},
		{"long backquoted value", "cannot unmarshal !!str `" + long + "` into int",
			"cannot unmarshal !!str `" + strings.Repeat("a", 40) + "…` (52428800 bytes) into int"},
		{"escapes kept whole", `x "` + strings.Repeat(`\"`, 300) + `"`, `x "` + strings.Repeat(`\"`, 20) + `…" (600 bytes)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Shorten(tt.in); got != tt.want {
				if len(got) > 200 {
					got = got[:200] + "..."
				}
				t.Errorf("Shorten = %q, want %q", got, tt.want)
			}
		})
	}
	// Unquoted text past the bound is cut as a whole.
	if got := Shorten(long); len(got) > 4*maxMessage+32 || !strings.HasSuffix(got, "(52428800 bytes)") {
		t.Errorf("an unquoted 50 MB message became %d bytes ending %q", len(got), got[len(got)-20:])
	}
}
