// Package netlab builds a tiny internet out of Linux network namespaces, for
// tests that need real NATs and firewalls between a Tandem server and its
// peers: Pion processes and headless browsers run in different namespaces
// and reach one another only the way real networks would let them.
//
// A Lab is one such internet. Every name it creates starts with a random run
// prefix, tnl-<pid>-<hex> (Prefix), so parallel runs never collide and a later
// run can sweep what a crashed one left behind (the labs of processes that
// no longer exist). Only TEST-NET addresses are used: 203.0.113.0/24 is the
// public internet, 198.51.100.0/24 is cut into /28 LANs, one per site.
//
//	               <id>-inet: bridge br0, 203.0.113.1/24
//	               (a switch, and everyone's default gateway)
//	     +-------------------+-------------------+-------------- ...
//	     |                   |                   |
//	eth0 203.0.113.10   eth0 203.0.113.20   wan 203.0.113.21
//	<id>-srv            <id>-h1-open        <id>-r2-easynat
//	the server, which   an Open site's      a NAT router: masquerade,
//	the caller starts   host: a public      firewall, ip_forward on
//	there (ip netns     address, no NAT     lan 198.51.100.33/28
//	exec)                                        |
//	                                        eth0 198.51.100.34/28
//	                                        <id>-h2-easynat
//	                                        the site's client host
//
// Site kinds, named as in RFC 4787 (and tailscale's natlab):
//
//   - Open: the host sits on the internet with a public address.
//   - EasyNAT: nftables masquerade. Endpoint-independent mapping in practice
//     (Linux keeps the source port when it is free), and
//     address-and-port-dependent filtering (only replies to a conntrack
//     entry come back in).
//   - HardNAT: masquerade fully-random, a new random port for every new
//     destination: address-and-port-dependent mapping ("symmetric NAT").
//   - NoUDP: EasyNAT whose router drops all forwarded UDP, both ways.
//   - Only443: EasyNAT whose router forwards only TCP to port 443 (and its
//     replies) and silently drops everything else, ICMP rejects included.
//
// Every namespace has its loopback up, IPv6 off (so only IPv4 candidates
// appear) and a default route. NAT routers also drop new connections from
// the internet, like any home router.
//
// Code reaches into the lab in two ways: processes started with
// Lab.Command (ip netns exec), and sockets this process opens inside a
// namespace with Lab.DialContext, Lab.Listen and Lab.ListenPacket.
// Lab.Forward makes a port that listens on 127.0.0.1 inside a namespace (a
// browser's DevTools or WebDriver BiDi port) reachable from the test's own
// namespace. ServeSTUN, MappedAddr and Site.MappedAddrs let a test check
// what a NAT does before trusting it.
//
// Building a lab needs root, ip (iproute2), nft (nftables) and conntrack
// (conntrack-tools, for ChangePublicIP). Start skips a test when they are
// missing, except under CI=true, where it fails. Processes a test starts in
// the lab are its own to end; Close names those it finds still running.
package netlab
