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
