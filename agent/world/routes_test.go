package world

import (
	"context"
	"reflect"
	"testing"

	"github.com/cpra-agent/cpra-agent/internal/domain"
	"github.com/cpra-agent/cpra-agent/pipelines/code"
)

// TestRoutesTargets: a colour goes to its own entry, or to every other
// configured notifier once.
func TestRoutesTargets(t *testing.T) {
	n1, n2 := &destNotifier{"n1"}, &destNotifier{"n2"}
	route := func(n code.Notifier) Route { return Route{Configured: true, Dispatch: true, Notifier: n} }
	tests := []struct {
		name   string
		routes Routes
		want   map[string][]string
	}{
		{"nothing configured", Routes{}, map[string][]string{}},
		{
			"own entry wins, others fall back to every configured notifier once",
			Routes{domain.Yellow: route(n1), domain.Red: route(n2), domain.Cyan: route(n2)},
			map[string][]string{"yellow": {"n1"}, "red": {"n2"}, "cyan": {"n2"}, "green": {"n1", "n2"}, "gray": {"n1", "n2"}},
		},
		{
			"dispatch false sends nothing and is no fallback",
			Routes{domain.Red: route(n1), domain.Gray: {Configured: true, Dispatch: false, Notifier: n2}},
			map[string][]string{"yellow": {"n1"}, "red": {"n1"}, "cyan": {"n1"}, "green": {"n1"}},
		},
		{
			"dispatch false without a notifier",
			Routes{domain.Red: route(n1), domain.Green: {Configured: true}},
			map[string][]string{"yellow": {"n1"}, "red": {"n1"}, "cyan": {"n1"}, "gray": {"n1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[string][]string{}
			for _, k := range domain.All {
				for _, n := range tt.routes.Notifiers(k) {
					got[k.String()] = append(got[k.String()], n.Destination())
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("targets %v, want %v", got, tt.want)
			}
		})
	}
}

type destNotifier struct{ dest string }

func (f *destNotifier) Notify(context.Context, domain.Notification) error { return nil }
func (f *destNotifier) Destination() string                               { return f.dest }
func (f *destNotifier) Close(context.Context) error                       { return nil }
