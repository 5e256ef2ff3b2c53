package telemetry

import "runtime"

// Set at build time with -ldflags "-X github.com/cpra-agent/cpra-agent/telemetry.version=...".
var (
	version  = "dev"
	revision = "unknown"
)

// BuildInfo describes the running binary.
type BuildInfo struct {
	Version, Revision, GoVersion string
}

// Build returns the binary's build information.
func Build() BuildInfo {
	return BuildInfo{Version: version, Revision: revision, GoVersion: runtime.Version()}
}
