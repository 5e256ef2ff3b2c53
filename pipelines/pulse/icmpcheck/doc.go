// Package icmpcheck is the `icmp` check kind: it sends ICMP echo requests
// (pings) and succeeds when one is answered within the check's timeout.
//
//	pulse_check:
//	  type: icmp
//	  timeout: 2s
//	  config:
//	    host: gateway.internal   # a name or an IP address, resolved at each check
//	    count: 3                 # pings per check, default 1, at most 100
//	    # retries: 2             # same as count: 3, for files that use retries
//	    ip_protocol: ip4         # preferred family for names: ip4 (default) or ip6
//
// The pings are spread over the timeout: with count 3 and a 3s timeout one is
// sent every second, and a reply to any of them, however late, counts.
// retries is accepted as an alias because other kinds use it: retries N
// means N+1 pings. Setting both is an error.
//
// An unprivileged ICMP datagram socket is tried first (Linux allows it to
// groups in the sysctl net.ipv4.ping_group_range, which also covers IPv6);
// the kernel then rewrites the echo identifier and delivers only this
// socket's replies, so replies are matched on sequence number and payload.
// Otherwise a raw socket is used, which needs CAP_NET_RAW and sees every
// ICMP packet, so replies are matched on identifier, sequence number, payload
// and source address. When neither opens, the reason says both errors and how
// to fix it.
//
// A failure is Unreachable (see pulse.Result) when the host does not resolve,
// the kernel has no route to it, an ICMP error comes back, or no reply
// arrives before the timeout. A socket that cannot be opened, a send refused
// locally (a firewall's EPERM) or a canceled check says nothing about the
// target and is not.
package icmpcheck
