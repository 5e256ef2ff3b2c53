package builtin

import (
	"github.com/cpra-agent/cpra-agent/pipelines/code"
	"github.com/cpra-agent/cpra-agent/pipelines/code/alertmanagernotify"
	"github.com/cpra-agent/cpra-agent/pipelines/code/lognotify"
	"github.com/cpra-agent/cpra-agent/pipelines/code/webhooknotify"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention/dockerremedy"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention/scriptremedy"
	"github.com/cpra-agent/cpra-agent/pipelines/intervention/webhookremedy"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse/dnscheck"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse/grpccheck"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse/httpcheck"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse/icmpcheck"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse/scriptcheck"
	"github.com/cpra-agent/cpra-agent/pipelines/pulse/tcpcheck"
)

// Checks are the `pulse_check.type` kinds.
func Checks() []pulse.Kind {
	return []pulse.Kind{
		httpcheck.Kind,
		tcpcheck.Kind,
		tcpcheck.TLSKind,
		dnscheck.Kind,
		grpccheck.Kind,
		icmpcheck.Kind,
		scriptcheck.Kind,
	}
}

// Interventions are the `intervention.type` kinds.
func Interventions() []intervention.Kind {
	return []intervention.Kind{
		scriptremedy.Kind,
		webhookremedy.Kind,
		dockerremedy.Kind,
	}
}

// Notifiers are the `codes.<colour>.notify` kinds.
func Notifiers() []code.Kind {
	return []code.Kind{
		lognotify.Kind,
		webhooknotify.Kind,
		alertmanagernotify.Kind,
	}
}
