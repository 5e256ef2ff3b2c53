package scalebench

import (
	"bufio"
	"fmt"
	"os"
	"time"
)

// WriteMonitorFile writes n HTTP monitors in the seed format, spread round
// robin over addrs, each with a distinct name and URL. Yellow and red go to
// the log notifier writing codesFile, so any false alarm is on record.
// A revision above 0 changes the first monitor's URL (a query parameter),
// so writing the file again with the next revision changes one monitor.
func WriteMonitorFile(path string, n int, addrs []string, interval, timeout time.Duration, codesFile string, revision int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "monitors:")
	for i := range n {
		query := ""
		if i == 0 && revision > 0 {
			query = fmt.Sprintf("?revision=%d", revision)
		}
		fmt.Fprintf(w, `  - name: svc-%07d
    groups: bench
    pulse_check:
      type: http
      interval: %s
      timeout: %s
      config:
        url: http://%s/health/%07d%s
    codes:
      yellow: {dispatch: true, notify: log, config: {file: %q}}
      red: {dispatch: true, notify: log, config: {file: %q}}
`, i, interval, timeout, addrs[i%len(addrs)], i, query, codesFile, codesFile)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
