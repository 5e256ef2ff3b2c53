package world

import (
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/agent/config"
	"github.com/cpra-agent/cpra-agent/agent/incident"
	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/internal/spec"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
)

func onAlert(m *config.Monitor) {
	withRemedy(m)
	m.Intervention.OnAlert = true
}

// own gives a monitor a profile of its own: monitor's profile key covers
// only some of the fields these tests change.
func own(m config.Monitor) config.Monitor {
	m.ProfileKey = spec.NewFingerprint().String(m.Name).Key()
	return m
}

func TestApplyAlertRoutes(t *testing.T) {
	silent := func(m *config.Monitor) { m.Codes = config.Codes{} }
	noYellow := func(m *config.Monitor) { m.Codes[domain.Yellow] = config.Route{Configured: true} }
	w := newWorld(t,
		own(monitor("plain", func(m *config.Monitor) { m.Groups = []string{"shop"} })),
		own(monitor("silent", silent)),
		own(monitor("no-yellow", noYellow)),
	)
	tests := []struct {
		monitor string
		code    domain.Code
		route   AlertRoute
		targets []code.Notifier
	}{
		{"plain", domain.Red, AlertRouted, []code.Notifier{amN}},
		{"plain", domain.Yellow, AlertRouted, []code.Notifier{logN}},
		{"plain", domain.Green, AlertRouted, []code.Notifier{logN, amN}}, // no entry: every configured notifier
		{"silent", domain.Red, AlertNoNotifier, nil},
		{"no-yellow", domain.Yellow, AlertSuppressed, nil},
		{"no-yellow", domain.Red, AlertRouted, []code.Notifier{amN}},
		{"absent", domain.Red, AlertNoMonitor, nil},
	}
	for _, tt := range tests {
		t.Run(tt.monitor+" "+tt.code.String(), func(t *testing.T) {
			var fx Effects
			out := w.ApplyAlert(domain.Notification{Monitor: tt.monitor, Code: tt.code, State: "firing"}, true, "alert", t0, &fx)
			if out.Route != tt.route || out.OptedIn || out.Intervened {
				t.Errorf("outcome %+v, want route %v and no intervention (none opted in)", out, tt.route)
			}
			if len(tt.targets) == 0 {
				if len(fx.Codes) != 0 {
					t.Errorf("dispatched %+v, want nothing", fx.Codes)
				}
				return
			}
			if len(fx.Codes) != 1 {
				t.Fatalf("dispatched %+v, want one code", fx.Codes)
			}
			d := fx.Codes[0]
			if len(d.Notifiers) != len(tt.targets) {
				t.Fatalf("targets %v, want %v", d.Notifiers, tt.targets)
			}
			for i := range d.Notifiers {
				if d.Notifiers[i] != tt.targets[i] {
					t.Errorf("targets %v, want %v", d.Notifiers, tt.targets)
				}
			}
			if d.Notification.Monitor != tt.monitor || d.Notification.Code != tt.code || d.Notification.State != "unknown" {
				t.Errorf("notification %+v", d.Notification)
			}
			if tt.monitor == "plain" && (len(d.Notification.Groups) != 1 || d.Notification.Groups[0] != "shop") {
				t.Errorf("groups %v, want the monitor's [shop]", d.Notification.Groups)
			}
		})
	}
	if c := w.Counts(); c[incident.Unknown] != 3 {
		t.Errorf("counts %v: alerts changed the monitors' states", c)
	}
}

// TestApplyAlertIntervention: an alert starts the intervention of a monitor
// that opted in, once while it is in flight, through the restart-loop guard.
func TestApplyAlertIntervention(t *testing.T) {
	w := newWorld(t, own(monitor("svc", onAlert)), own(monitor("no-opt-in", withRemedy)),
		own(monitor("off", onAlert, func(m *config.Monitor) { m.Enabled = false })))
	red := func(name string) domain.Notification {
		return domain.Notification{Monitor: name, Code: domain.Red, State: "firing"}
	}

	var fx Effects
	out := w.ApplyAlert(red("no-opt-in"), true, "HighLatency", t0, &fx)
	if out.OptedIn || out.Intervened || len(fx.Remedies) != 0 {
		t.Fatalf("a monitor without on_alert: %+v, remedies %+v", out, fx.Remedies)
	}
	out = w.ApplyAlert(red("off"), true, "HighLatency", t0, &fx)
	if !out.OptedIn || out.Intervened || len(fx.Remedies) != 0 {
		t.Fatalf("a disabled monitor: %+v, remedies %+v; want opted in, no intervention", out, fx.Remedies)
	}
	out = w.ApplyAlert(red("svc"), false, "HighLatency", t0, &fx)
	if out.OptedIn || out.Intervened || len(fx.Remedies) != 0 {
		t.Fatalf("an alert that does not ask: %+v, remedies %+v", out, fx.Remedies)
	}

	fx.Reset()
	out = w.ApplyAlert(red("svc"), true, "HighLatency firing", t0, &fx)
	if out.Route != AlertRouted || !out.OptedIn || !out.Intervened {
		t.Fatalf("outcome %+v, want routed and intervened", out)
	}
	if len(fx.Remedies) != 1 || fx.Remedies[0].Request.Monitor != "svc" || fx.Remedies[0].Request.Reason != "HighLatency firing" ||
		fx.Remedies[0].Request.State != "unknown" {
		t.Fatalf("remedies %+v", fx.Remedies)
	}
	if v, _ := w.Lookup("svc"); v.State != incident.Intervening {
		t.Fatalf("state %v, want intervening", v.State)
	}

	// In flight: a second alert dispatches its code and starts nothing.
	fx.Reset()
	if out := w.ApplyAlert(red("svc"), true, "again", t0, &fx); out.Intervened || len(fx.Remedies) != 0 || len(fx.Codes) != 1 {
		t.Fatalf("while intervening: %+v, codes %d, remedies %d", out, len(fx.Codes), len(fx.Remedies))
	}

	// max_per_window is 3: two more, then the guard trips with red.
	now := t0
	for i := range 3 {
		fx.Reset()
		w.ApplyRemedy(RemedyOutcome{Entity: fx0(w, "svc")}, now, &fx)
		out := w.ApplyAlert(red("svc"), true, "again", now, &fx)
		if want := i < 2; out.Intervened != want {
			t.Fatalf("alert %d after a remedy: intervened %v, want %v", i+2, out.Intervened, want)
		}
		now = now.Add(time.Minute)
	}
	v, _ := w.Lookup("svc")
	if last := fx.Codes[len(fx.Codes)-1].Notification; v.State != incident.Down || last.Code != domain.Red || last.Monitor != "svc" {
		t.Fatalf("after the guard: state %v, last code %+v; want down and red", v.State, last)
	}
}
