// Package realserver starts real server binaries (from Debian packages) on
// loopback for tests, so integration tests talk to the real thing rather than
// to a fake.
//
//	am := realserver.StartAlertmanager(t)
//	// point the code under test at am.URL ...
//	alerts, err := am.Alerts(ctx)
//
// Each server gets a free 127.0.0.1 port and its own temporary directory, and
// is stopped in t.Cleanup; if the test binary dies first, the kernel kills the
// child on Linux. A missing binary skips the test with the command that
// installs it, and -short skips every real-server test.
//
// A launcher for another server (Prometheus next) is one file: write its
// config into t.TempDir(), then call start with the binary's names, its
// arguments for a given listen address, and its readiness path.
//
// Only import this package from _test.go files.
package realserver
