package incident

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cpra-agent/cpra-agent/internal/domain"
)

var now = time.Unix(1_800_000_000, 0)

var (
	noRemedy   = Policy{MaxFailures: 3, HealthyThreshold: 2}
	withRemedy = Policy{MaxFailures: 3, HealthyThreshold: 2, CanIntervene: true, MaxPerWindow: 2, Window: time.Hour}
	oneStrike  = Policy{MaxFailures: 1, HealthyThreshold: 1}
)

// codes renders emitted codes as "yellow,red" for compact tables.
func codes(fx Outcome) string {
	var s []string
	for _, e := range fx.Emits {
		s = append(s, e.Code.String())
	}
	return strings.Join(s, ",")
}

func TestStep(t *testing.T) {
	tests := []struct {
		name      string
		from      Status
		policy    Policy
		ev        Event
		want      State
		codes     string
		intervene bool
		fails     uint16
		succ      uint16
	}{
		{"unknown ok", Status{}, noRemedy, CheckOK, Healthy, "", false, 0, 1},
		{"unknown fail is yellow", Status{}, noRemedy, CheckFailed, Degraded, "yellow", false, 1, 0},
		{"healthy ok", Status{State: Healthy, Successes: 5}, noRemedy, CheckOK, Healthy, "", false, 0, 6},
		{"healthy fail is yellow", Status{State: Healthy, Successes: 5}, noRemedy, CheckFailed, Degraded, "yellow", false, 1, 0},
		{"threshold 1: yellow then red", Status{State: Healthy}, oneStrike, CheckFailed, Down, "yellow,red", false, 1, 0},
		{"threshold 1 with remedy: yellow then intervene", Status{State: Healthy}, Policy{MaxFailures: 1, HealthyThreshold: 1, CanIntervene: true, MaxPerWindow: 1, Window: time.Hour}, CheckFailed, Intervening, "yellow", true, 1, 0},
		{"degraded fail below threshold", Status{State: Degraded, Fails: 1}, noRemedy, CheckFailed, Degraded, "", false, 2, 0},
		{"degraded reaches threshold: red", Status{State: Degraded, Fails: 2}, noRemedy, CheckFailed, Down, "red", false, 3, 0},
		{"degraded reaches threshold: intervene", Status{State: Degraded, Fails: 2}, withRemedy, CheckFailed, Intervening, "", true, 3, 0},
		{"degraded one ok below healthy threshold", Status{State: Degraded, Fails: 2}, noRemedy, CheckOK, Degraded, "", false, 0, 1},
		{"degraded recovers: green", Status{State: Degraded, Successes: 1}, noRemedy, CheckOK, Healthy, "green", false, 0, 2},
		{"down fail stays down", Status{State: Down, Fails: 3}, noRemedy, CheckFailed, Down, "", false, 4, 0},
		{"down recovers: green", Status{State: Down, Successes: 1}, noRemedy, CheckOK, Healthy, "green", false, 0, 2},
		{"down with remedy: re-intervene at next threshold", Status{State: Down, Fails: 5, Interventions: 1, WindowStart: uint32(now.Unix())}, withRemedy, CheckFailed, Intervening, "", true, 6, 0},
		{"down with remedy: not between thresholds", Status{State: Down, Fails: 3, Interventions: 1, WindowStart: uint32(now.Unix())}, withRemedy, CheckFailed, Down, "", false, 4, 0},
		{"down guarded: never intervene", Status{State: Down, Fails: 5, Guarded: true}, withRemedy, CheckFailed, Down, "", false, 6, 0},
		{"guard trips: red, stop", Status{State: Degraded, Fails: 2, Interventions: 2, WindowStart: uint32(now.Unix())}, withRemedy, CheckFailed, Down, "red", false, 3, 0},
		{"guard window expired: intervene again", Status{State: Degraded, Fails: 2, Interventions: 2, WindowStart: uint32(now.Add(-2 * time.Hour).Unix())}, withRemedy, CheckFailed, Intervening, "", true, 3, 0},
		{"intervening fail: keeps checking, no code", Status{State: Intervening, Fails: 3}, withRemedy, CheckFailed, Intervening, "", false, 4, 0},
		{"intervening ok: waits for the remedy", Status{State: Intervening, Fails: 3}, withRemedy, CheckOK, Intervening, "", false, 0, 1},
		{"remedy ok: cyan", Status{State: Intervening, Fails: 4, Successes: 0}, withRemedy, RemedyOK, Verifying, "cyan", false, 0, 0},
		{"remedy failed: red", Status{State: Intervening, Fails: 4}, withRemedy, RemedyFailed, Down, "red", false, 4, 0},
		{"remedy result after disable is ignored", Status{State: Maintenance}, withRemedy, RemedyOK, Maintenance, "", false, 0, 0},
		{"late remedy failure when not intervening is ignored", Status{State: Healthy}, withRemedy, RemedyFailed, Healthy, "", false, 0, 0},
		{"verifying ok below threshold", Status{State: Verifying}, withRemedy, CheckOK, Verifying, "", false, 0, 1},
		{"verifying recovers: green", Status{State: Verifying, Successes: 1}, withRemedy, CheckOK, Healthy, "green", false, 0, 2},
		{"verifying fail: red", Status{State: Verifying, Successes: 1}, withRemedy, CheckFailed, Down, "red", false, 1, 0},
		{"disable healthy: gray", Status{State: Healthy}, noRemedy, Disabled, Maintenance, "gray", false, 0, 0},
		{"disable down: gray", Status{State: Down, Fails: 7}, noRemedy, Disabled, Maintenance, "gray", false, 0, 0},
		{"disable again: nothing", Status{State: Maintenance}, noRemedy, Disabled, Maintenance, "", false, 0, 0},
		{"enable: unknown, no code", Status{State: Maintenance}, noRemedy, Enabled, Unknown, "", false, 0, 0},
		{"enable running monitor: nothing", Status{State: Down, Fails: 3}, noRemedy, Enabled, Down, "", false, 3, 0},
		{"remove while down: gray", Status{State: Down}, noRemedy, Removed, Down, "gray", false, 0, 0},
		{"remove while healthy: nothing", Status{State: Healthy}, noRemedy, Removed, Healthy, "", false, 0, 0},
		{"alert on healthy: intervene, counts kept", Status{State: Healthy, Successes: 5}, withRemedy, AlertFiring, Intervening, "", true, 0, 5},
		{"alert on unknown: intervene", Status{}, withRemedy, AlertFiring, Intervening, "", true, 0, 0},
		{"alert on degraded below threshold: intervene", Status{State: Degraded, Fails: 1}, withRemedy, AlertFiring, Intervening, "", true, 1, 0},
		{"alert on down: intervene again", Status{State: Down, Fails: 4, Interventions: 1, WindowStart: uint32(now.Unix())}, withRemedy, AlertFiring, Intervening, "", true, 4, 0},
		{"alert while verifying: intervene again", Status{State: Verifying, Successes: 1, Interventions: 1, WindowStart: uint32(now.Unix())}, withRemedy, AlertFiring, Intervening, "", true, 0, 1},
		{"alert while intervening: nothing", Status{State: Intervening, Fails: 3}, withRemedy, AlertFiring, Intervening, "", false, 3, 0},
		{"alert in maintenance: nothing", Status{State: Maintenance}, withRemedy, AlertFiring, Maintenance, "", false, 0, 0},
		{"alert without intervention: nothing", Status{State: Healthy, Successes: 2}, noRemedy, AlertFiring, Healthy, "", false, 0, 2},
		{"alert trips the guard: red, stop", Status{State: Healthy, Interventions: 2, WindowStart: uint32(now.Unix())}, withRemedy, AlertFiring, Down, "red", false, 0, 0},
		{"alert when guarded: nothing", Status{State: Down, Fails: 7, Guarded: true}, withRemedy, AlertFiring, Down, "", false, 7, 0},
		{"alert after the guard window: intervene", Status{State: Down, Fails: 7, Interventions: 2, WindowStart: uint32(now.Add(-2 * time.Hour).Unix())}, withRemedy, AlertFiring, Intervening, "", true, 7, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.from
			fx := Step(&st, tt.policy, tt.ev, "status 503", now)
			if st.State != tt.want {
				t.Errorf("state = %v, want %v", st.State, tt.want)
			}
			if got := codes(fx); got != tt.codes {
				t.Errorf("codes = %q, want %q", got, tt.codes)
			}
			if fx.Intervene != tt.intervene {
				t.Errorf("intervene = %v, want %v", fx.Intervene, tt.intervene)
			}
			if st.Fails != tt.fails || st.Successes != tt.succ {
				t.Errorf("fails/successes = %d/%d, want %d/%d", st.Fails, st.Successes, tt.fails, tt.succ)
			}
		})
	}
}

// TestIncidentStory walks a whole incident, the path the end-to-end test
// sees: yellow, intervention, cyan, green; then a failing remedy, red.
func TestIncidentStory(t *testing.T) {
	var st Status
	var got []string
	step := func(ev Event) {
		fx := Step(&st, withRemedy, ev, "boom", now)
		for _, e := range fx.Emits {
			got = append(got, e.Code.String())
		}
		if fx.Intervene {
			got = append(got, "intervene")
		}
	}
	for _, ev := range []Event{CheckOK, CheckFailed, CheckFailed, CheckFailed, RemedyOK, CheckOK, CheckOK} {
		step(ev)
	}
	for _, ev := range []Event{CheckFailed, CheckFailed, CheckFailed, RemedyFailed} {
		step(ev)
	}
	want := "yellow,intervene,cyan,green,yellow,intervene,red"
	if s := strings.Join(got, ","); s != want {
		t.Fatalf("story = %s\nwant    %s", s, want)
	}
}

// TestGuardStopsRestartLoop: a remedy that "succeeds" but never fixes the
// monitor is tried MaxPerWindow times, then red and no more interventions.
func TestGuardStopsRestartLoop(t *testing.T) {
	var st Status
	interventions := 0
	var last Emit
	for range 100 {
		fx := Step(&st, withRemedy, CheckFailed, "down", now)
		if fx.Intervene {
			interventions++
			fx = Step(&st, withRemedy, RemedyOK, "", now)
		}
		if len(fx.Emits) > 0 {
			last = fx.Emits[len(fx.Emits)-1]
		}
	}
	if interventions != withRemedy.MaxPerWindow {
		t.Fatalf("interventions = %d, want %d", interventions, withRemedy.MaxPerWindow)
	}
	if !st.Guarded || st.State != Down || last.Code != domain.Red || !strings.Contains(last.Message, "restart-loop guard") {
		t.Fatalf("after the loop: %+v, last code %v %q", st, last.Code, last.Message)
	}
	// Recovery lifts the block, but the window's interventions still
	// count: the next failure within the window is the loop again.
	Step(&st, withRemedy, CheckOK, "", now)
	Step(&st, withRemedy, CheckOK, "", now)
	if st.Guarded || st.State != Healthy || int(st.Interventions) != withRemedy.MaxPerWindow {
		t.Fatalf("after recovery: %+v", st)
	}
	for range withRemedy.MaxFailures {
		if fx := Step(&st, withRemedy, CheckFailed, "down", now); fx.Intervene {
			t.Fatal("intervened again within the same window after recovery")
		}
	}
	if !st.Guarded {
		t.Fatalf("the guard did not trip again within the window: %+v", st)
	}
	// Once the window has passed, interventions are allowed again.
	Step(&st, withRemedy, CheckOK, "", now)
	Step(&st, withRemedy, CheckOK, "", now)
	later := now.Add(withRemedy.Window)
	intervened := false
	for range withRemedy.MaxFailures {
		intervened = intervened || Step(&st, withRemedy, CheckFailed, "down", later).Intervene
	}
	if !intervened {
		t.Fatalf("no intervention after the window expired: %+v", st)
	}
}

// TestAlertLoopIsGuarded: an alert that keeps firing on a monitor whose
// checks pass (each intervention "works", the checks recover) is a restart
// loop too: it stops at MaxPerWindow.
func TestAlertLoopIsGuarded(t *testing.T) {
	var st Status
	interventions := 0
	for range 10 {
		if fx := Step(&st, withRemedy, AlertFiring, "p99 above 2s", now); fx.Intervene {
			interventions++
			Step(&st, withRemedy, RemedyOK, "", now)
		}
		for range withRemedy.HealthyThreshold {
			Step(&st, withRemedy, CheckOK, "", now)
		}
	}
	if interventions != withRemedy.MaxPerWindow {
		t.Fatalf("%d interventions from a repeating alert, want the guard's %d", interventions, withRemedy.MaxPerWindow)
	}
}

// TestAlertsShareTheGuard: interventions asked for by alerts and by
// failing checks count against one restart-loop guard.
func TestAlertsShareTheGuard(t *testing.T) {
	var st Status
	var got []string
	step := func(ev Event) {
		fx := Step(&st, withRemedy, ev, "p99 latency above 2s", now)
		for _, e := range fx.Emits {
			got = append(got, e.Code.String())
		}
		if fx.Intervene {
			got = append(got, "intervene")
		}
	}
	for _, ev := range []Event{CheckOK, AlertFiring, RemedyOK, CheckFailed, CheckFailed, CheckFailed, AlertFiring} {
		step(ev)
	}
	// The alert's intervention (1), cyan; a failure while verifying (red);
	// the failures reach the threshold: the guard's second intervention;
	// the alert while it is in flight changes nothing.
	if want := "intervene,cyan,red,intervene"; strings.Join(got, ",") != want {
		t.Fatalf("story = %s\nwant    %s", strings.Join(got, ","), want)
	}
	step(RemedyFailed)
	step(AlertFiring) // a third intervention in the window: the guard trips
	if !st.Guarded || st.State != Down || got[len(got)-1] != "red" {
		t.Fatalf("after a third request: %+v, codes %v; want guarded, down, red", st, got)
	}
}

func TestSaturatingCounters(t *testing.T) {
	st := Status{State: Down, Fails: ^uint16(0)}
	Step(&st, noRemedy, CheckFailed, "x", now)
	if st.Fails != ^uint16(0) {
		t.Fatalf("fails wrapped to %d", st.Fails)
	}
}

func TestStateNames(t *testing.T) {
	seen := map[string]bool{}
	for s := range NumStates {
		n := s.String()
		if n == "" || seen[n] || strings.HasPrefix(n, "state(") {
			t.Fatalf("bad or duplicate name %q for %d", n, s)
		}
		seen[n] = true
	}
	if got := State(200).String(); got != fmt.Sprintf("state(%d)", 200) {
		t.Fatalf("out of range name %q", got)
	}
}

func TestStepChange(t *testing.T) {
	tests := []struct {
		name string
		from Status
		ev   Event
		want Change
	}{
		{"first check passes", Status{}, CheckOK, NoChange},
		{"healthy fails: opened", Status{State: Healthy}, CheckFailed, Opened},
		{"unknown fails: opened", Status{}, CheckFailed, Opened},
		{"degraded fails again", Status{State: Degraded, Fails: 1}, CheckFailed, NoChange},
		{"degraded to down: changed", Status{State: Degraded, Fails: 2}, CheckFailed, Changed},
		{"down recovers: closed", Status{State: Down, Successes: 1}, CheckOK, Closed},
		{"degraded disabled: closed", Status{State: Degraded}, Disabled, Closed},
		{"healthy disabled: no incident", Status{State: Healthy}, Disabled, NoChange},
		{"down removed: closed", Status{State: Down}, Removed, Closed},
		{"healthy removed: no incident", Status{State: Healthy}, Removed, NoChange},
		{"re-enabled", Status{State: Maintenance}, Enabled, NoChange},
		{"alert on healthy: opened", Status{State: Healthy}, AlertFiring, Opened},
		{"remedy ok: changed", Status{State: Intervening}, RemedyOK, Changed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.from
			if got := Step(&st, withRemedy, tt.ev, "boom", now).Change; got != tt.want {
				t.Errorf("change = %v, want %v (state %v → %v)", got, tt.want, tt.from.State, st.State)
			}
		})
	}
}

// At the largest max_per_window the guard's 8-bit counter still trips:
// 255 interventions in the window, then red and no more.
func TestGuardAtItsBound(t *testing.T) {
	p := Policy{MaxFailures: 1, HealthyThreshold: 1, CanIntervene: true, MaxPerWindow: 255, Window: time.Hour}
	st := Status{State: Healthy}
	for i := range 255 {
		if fx := Step(&st, p, AlertFiring, "boom", now); !fx.Intervene {
			t.Fatalf("intervention %d refused (guarded %v)", i+1, st.Guarded)
		}
		Step(&st, p, RemedyFailed, "still down", now)
	}
	fx := Step(&st, p, AlertFiring, "boom", now)
	if fx.Intervene || !st.Guarded || codes(fx) != "red" {
		t.Fatalf("the 256th: intervene %v, guarded %v, codes %q; want the guard's red", fx.Intervene, st.Guarded, codes(fx))
	}
	if msg := fx.Emits[0].Message; !strings.Contains(msg, "until the monitor has recovered and the window has passed") {
		t.Errorf("guard message %q does not say when interventions resume", msg)
	}
}

// Maintenance that ends says so: a monitor enabled again sends green at
// its first passing check (its receivers were told gray), and yellow as
// usual when that check fails.
func TestMaintenanceEndSendsItsCode(t *testing.T) {
	st := Status{State: Maintenance}
	if fx := Step(&st, noRemedy, Enabled, "", now); len(fx.Emits) != 0 || st.State != Unknown {
		t.Fatalf("enabling: %+v, state %v", fx, st.State)
	}
	fx := Step(&st, noRemedy, CheckOK, "", now)
	if codes(fx) != "green" || !strings.Contains(fx.Emits[0].Message, "maintenance over") || st.State != Healthy {
		t.Fatalf("first pass after maintenance: %q %+v, state %v", codes(fx), fx.Emits, st.State)
	}
	if fx := Step(&st, noRemedy, CheckOK, "", now); len(fx.Emits) != 0 {
		t.Fatalf("a second pass sent %q", codes(fx))
	}
	st = Status{State: Maintenance}
	Step(&st, noRemedy, Enabled, "", now)
	if fx := Step(&st, noRemedy, CheckFailed, "503", now); codes(fx) != "yellow" || st.Resumed {
		t.Fatalf("first check after maintenance fails: %q, resumed %v", codes(fx), st.Resumed)
	}
	// A monitor never in maintenance sends nothing at its first pass.
	st = Status{}
	if fx := Step(&st, noRemedy, CheckOK, "", now); len(fx.Emits) != 0 {
		t.Fatalf("first pass of a new monitor sent %q", codes(fx))
	}
}
