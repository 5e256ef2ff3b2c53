package realserver

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"
)

func TestAlertmanager(t *testing.T) {
	am := StartAlertmanager(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	alerts, err := am.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 0 {
		t.Fatalf("a fresh Alertmanager has %d alerts", len(alerts))
	}

	body := []byte(`[{"labels":{"alertname":"RealServerTest","job":"x"},"annotations":{"summary":"hi"}}]`)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, am.URL+"/api/v2/alerts", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("post alert: %s", resp.Status)
	}

	alerts, err = am.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(alerts))
	}
	a := alerts[0]
	if a.Labels["alertname"] != "RealServerTest" || a.Annotations["summary"] != "hi" ||
		a.StartsAt.IsZero() || a.EndsAt.IsZero() || a.Fingerprint == "" || a.Status.State == "" {
		t.Errorf("alert not decoded fully: %+v", a)
	}
}

func TestTwoAlertmanagersWithWebhook(t *testing.T) {
	// Two at once must not collide on ports or storage; the webhook option
	// must produce a configuration Alertmanager accepts.
	a := StartAlertmanager(t)
	b := StartAlertmanager(t, WithWebhookReceiver("http://127.0.0.1:1/hook"))
	if a.URL == b.URL {
		t.Fatalf("both on %s", a.URL)
	}
	for _, am := range []*Alertmanager{a, b} {
		if _, err := am.Alerts(context.Background()); err != nil {
			t.Errorf("%s: %v", am.URL, err)
		}
	}
}

// A stopped Alertmanager refuses connections; started again it answers on
// the same address.
func TestAlertmanagerStopAndStart(t *testing.T) {
	am := StartAlertmanager(t)
	am.Stop()
	if resp, err := http.Get(am.URL + "/-/ready"); err == nil {
		resp.Body.Close()
		t.Fatal("a stopped Alertmanager answered")
	}
	am.Start(t)
	resp, err := http.Get(am.URL + "/-/ready")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("restarted Alertmanager: %s", resp.Status)
	}
}
