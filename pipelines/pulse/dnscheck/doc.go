// Package dnscheck is the "dns" check, as blackbox_exporter's dns module:
// it asks a DNS server (the system resolver by default) one question and
// checks the response code and the answers.
//
//	pulse_check:
//	  type: dns
//	  config:
//	    query_name: api.example.com
//	    query_type: A              # A, AAAA, CNAME, MX, TXT, SRV, NS, SOA, PTR, CAA…
//	    server: 10.0.0.53:53       # default: the first nameserver of /etc/resolv.conf
//	    transport: udp             # or tcp
//	    valid_rcodes: [NOERROR]
//	    fail_if_none_matches_regexp: ["\\s10\\.0\\.0\\.\\d+$"]
//	    fail_if_all_match_regexp: ["127\\.0\\.0\\.1"]
//
// The regexps match the answers in zone-file form ("api.example.com.	300
// IN	A	10.0.0.7"). The monitor's address is dns://SERVER/NAME, so the
// host breaker watches the server.
package dnscheck
