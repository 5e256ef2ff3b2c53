// Package freeport finds a free port on a loopback address for both TCP
// and UDP, as memberlist binds both: for tests and benchmarks that start
// cluster replicas.
package freeport

import (
	"errors"
	"net"
)

// TCPAndUDP returns ip:port with port free for TCP and UDP alike. Another
// process may take it before the caller binds it; tests start at once.
func TCPAndUDP(ip string) (string, error) {
	for range 20 {
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			return "", err
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return addr, nil
		}
	}
	return "", errors.New("no port free for both TCP and UDP on " + ip)
}
