package owner

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/testmetrics"
	"github.com/cpra-agent/cpra-agent/internal/testwait"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
)

// amPost is one alert an Alertmanager received.
type amPost struct {
	Labels   map[string]string `json:"labels"`
	StartsAt time.Time         `json:"startsAt"`
	EndsAt   time.Time         `json:"endsAt"`
}

// recordingAM records the alerts posted to it, in order.
type recordingAM struct {
	url   string
	mu    sync.Mutex
	posts []amPost
}

func newRecordingAM(t *testing.T) *recordingAM {
	t.Helper()
	am := &recordingAM{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var alerts []amPost
		if err := json.NewDecoder(r.Body).Decode(&alerts); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		am.mu.Lock()
		am.posts = append(am.posts, alerts...)
		am.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	am.url = srv.URL
	return am
}

// await waits for n alerts and returns them.
func (am *recordingAM) await(t *testing.T, n int) []amPost {
	t.Helper()
	var got []amPost
	testwait.Until(t, fmt.Sprintf("%d alerts at Alertmanager", n), func() bool {
		am.mu.Lock()
		got = append([]amPost(nil), am.posts...)
		am.mu.Unlock()
		return len(got) >= n
	})
	return got
}

func redOnly(am string) string {
	return fmt.Sprintf(`monitors:
  - name: api
    pulse_check: {type: http, interval: 1m, max_failures: 1, healthy_threshold: 1, config: {url: "http://127.0.0.1:1/"}}
    codes:
      red: {notify: alertmanager, config: {url: %q, resend_interval: 1m}}
      yellow: {dispatch: false}
      green: {dispatch: false}
`, am)
}

// The owner re-sends a held red once its holder's resend interval passed,
// with the alert's first startsAt; before that, it sends nothing.
func TestHeldCodeIsResentEachInterval(t *testing.T) {
	am := newRecordingAM(t)
	o := newTestOwner(t, nil)
	now := time.Now()
	applyAt(t, o, redOnly(am.url), now)
	job := takeDue(t, o, now.Add(2*time.Minute))
	o.applyCheck(outcome(job, false, now), now)
	o.flushEffects()
	first := am.await(t, 1)[0]
	// Alertmanager has it; wait until the dispatcher has it done too, or
	// the resend below is skipped as behind a code still on its way.
	testwait.Until(t, "the first red delivered", func() bool {
		return testmetrics.Value(t, o.m.Registry, "cpra_codes_dispatched_total", "code", "red", "result", "success") == 1
	})

	sentAt := func() time.Time {
		e, _ := o.codePath.Entry(domain.Subject{Name: "api"})
		for _, hd := range e.Held {
			return hd.Sent
		}
		t.Fatal("the book holds nothing for api")
		return time.Time{}
	}
	before := sentAt()
	o.codePath.Resend(now.Add(30 * time.Second)) // too early
	if got := sentAt(); !got.Equal(before) {
		t.Fatalf("re-sent after 30s of a 1m resend interval (last sent %v, then %v)", before, got)
	}
	o.codePath.Resend(now.Add(61 * time.Second))
	if got := sentAt(); !got.Equal(now.Add(61 * time.Second)) {
		t.Fatalf("last sent %v after the resend at 61s", got)
	}
	got := am.await(t, 2)
	if len(got) != 2 || got[1].Labels["code"] != "red" || !got[1].StartsAt.Equal(first.StartsAt) {
		t.Fatalf("alerts %+v, want red and one resend of it from %v", got, first.StartsAt)
	}
}

// A monitor whose green goes nowhere still has its red resolved when it
// recovers: the book resolves what a holder holds when the incident closes.
func TestClosingResolvesWhatIsHeld(t *testing.T) {
	am := newRecordingAM(t)
	o := newTestOwner(t, nil)
	now := time.Now()
	applyAt(t, o, redOnly(am.url), now)
	job := takeDue(t, o, now.Add(2*time.Minute))
	o.applyCheck(outcome(job, false, now), now)
	o.flushEffects()
	am.await(t, 1)

	later := now.Add(3 * time.Minute)
	job = takeDue(t, o, later)
	o.applyCheck(outcome(job, true, later), later)
	o.flushEffects()
	got := am.await(t, 2)
	if r := got[1]; r.Labels["code"] != "red" || r.EndsAt.After(time.Now()) {
		t.Fatalf("second alert %+v, want red resolved", r)
	}
	if n := o.codePath.Subjects(); n != 0 {
		t.Errorf("the code path still holds %d subjects", n)
	}
}

// A host's code and a monitor named like it are different subjects: the
// host's red and green fire and resolve the host's alert (cpra_subject
// "host"), and the monitor's red stays held and firing (issue #22, item 2).
func TestHostCodeNeverTouchesAMonitorOfTheSameName(t *testing.T) {
	am := newRecordingAM(t)
	o := newTestOwner(t, nil)
	now := time.Now()
	applyAt(t, o, fmt.Sprintf(`monitors:
  - name: "host:127.0.1.1"
    pulse_check: {type: http, interval: 1m, max_failures: 1, healthy_threshold: 1, config: {url: "http://127.0.0.1:1/"}}
    codes:
      red: {notify: alertmanager, config: {url: %q, resend_interval: 1m}}
      yellow: {dispatch: false}
      green: {dispatch: false}
`, am.url), now)
	job := takeDue(t, o, now.Add(2*time.Minute))
	o.applyCheck(outcome(job, false, now), now)
	o.flushEffects()
	am.await(t, 1)
	monitor := domain.Subject{Name: "host:127.0.1.1"}
	var targets []code.Notifier
	held, _ := o.codePath.Entry(monitor)
	for h := range held.Held {
		targets = append(targets, h)
	}

	o.codePath.HostDown("127.0.1.1", "host down", targets, now)
	o.codePath.HostUp("127.0.1.1", now.Add(time.Second))
	got := am.await(t, 3)
	if len(got) != 3 {
		t.Fatalf("alerts %+v, want the monitor's red, the host's red and its resolution", got)
	}
	for i, a := range got[1:] {
		if a.Labels["cpra_subject"] != "host" || a.Labels["monitor"] != "host:127.0.1.1" {
			t.Errorf("alert %d: %v, want the host's (cpra_subject host)", i+2, a.Labels)
		}
	}
	if !got[2].EndsAt.Before(time.Now().Add(time.Second)) {
		t.Errorf("the host's green did not resolve its alert: %+v", got[2])
	}
	if e, ok := o.codePath.Entry(monitor); !ok || len(e.Held) != 1 || e.Incident == 0 {
		t.Fatalf("the monitor's entry after its host's codes: %+v; want its incident and its held red", e)
	}
	if _, ok := o.codePath.Entry(domain.Subject{About: domain.AboutHost, Name: "host:127.0.1.1"}); ok {
		t.Error("the host's entry outlived its green")
	}
}
