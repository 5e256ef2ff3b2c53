package scalebench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Alarms judges the codes a run sent against the monitors the target made
// bad on purpose.
type Alarms struct {
	Bad     int // monitors the target hangs or fails
	Hanging int
	Failing int
	// Red is the bad monitors whose last code was red: alarmed as they
	// should be. Missed is the rest of the bad ones.
	Red, Missed int
	// LateRed is the bad monitors whose first red came more than four
	// intervals after the agent was ready (or never).
	LateRed int
	// False is the healthy monitors that got any yellow or red during the
	// run; FalseAtEnd those still not green at its end.
	False, FalseAtEnd int
	Codes             int // code lines read
}

// codeLine is the part of a log notifier line the judgement reads.
type codeLine struct {
	Time    time.Time `json:"time"`
	Monitor string    `json:"monitor"`
	Code    string    `json:"code"`
}

// JudgeAlarms reads the log notifier's file of a run of n monitors whose
// target behaves as l, the agent ready at ready, its monitors every interval.
func JudgeAlarms(codesFile string, n int, l Latency, ready time.Time, interval time.Duration) (Alarms, error) {
	var a Alarms
	last := map[int]string{}
	firstRed := map[int]time.Time{}
	alarmedEver := map[int]bool{}
	f, err := os.Open(codesFile)
	if err != nil && !os.IsNotExist(err) {
		return a, err
	}
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var c codeLine
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				return a, fmt.Errorf("%s: %w", codesFile, err)
			}
			a.Codes++
			i, err := strconv.Atoi(strings.TrimPrefix(c.Monitor, "svc-"))
			if err != nil {
				continue // a host code, not a monitor's
			}
			last[i] = c.Code
			if c.Code == "yellow" || c.Code == "red" {
				alarmedEver[i] = true
			}
			if _, ok := firstRed[i]; !ok && c.Code == "red" {
				firstRed[i] = c.Time
			}
		}
		if err := sc.Err(); err != nil {
			return a, err
		}
	}
	for i := range n {
		v := l.Verdict(i)
		if v == Healthy {
			if alarmedEver[i] {
				a.False++
			}
			if c := last[i]; c != "" && c != "green" {
				a.FalseAtEnd++
			}
			continue
		}
		a.Bad++
		if v == Hangs {
			a.Hanging++
		} else {
			a.Failing++
		}
		if last[i] == "red" {
			a.Red++
		} else {
			a.Missed++
		}
		if t, ok := firstRed[i]; !ok || t.Sub(ready) > 4*interval {
			a.LateRed++
		}
	}
	return a, nil
}

func (a Alarms) String() string {
	return fmt.Sprintf("bad %d (%d hang, %d fail): %d red, %d missed, %d red later than four intervals; false alarms %d (%d still open at the end); %d codes",
		a.Bad, a.Hanging, a.Failing, a.Red, a.Missed, a.LateRed, a.False, a.FalseAtEnd, a.Codes)
}
