// Package grpccheck is the "grpc" check: the standard health check,
// grpc.health.v1.Health/Check, for one service (empty: the server as a
// whole), over plaintext or TLS. The check passes when the status is
// SERVING.
//
//	pulse_check:
//	  type: grpc
//	  config:
//	    address: 10.0.0.5:50051   # or host and port
//	    service: orders.v1.Orders  # default "": the server
//	    tls: true                  # default false: plaintext
//	    tls_config: {server_name: orders.internal}
//
// Connections are kept per address and reused, as HTTP keep-alive is.
package grpccheck
