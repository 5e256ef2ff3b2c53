// Command cpra-agent runs health checks, automated remediation and alert
// dispatch for large fleets of services. See the README.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/cpra-agent/cpra-agent/agent"
)

func main() {
	if err := agent.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cpra-agent:", err)
		os.Exit(1)
	}
}
