// Package connectivity holds the NAT and firewall matrix: two Pion peers
// call each other through a real Tandem server, across every pair of site
// kinds of a netlab internet (open, easynat, hardnat, noudp, only443), and
// the test checks which calls go direct and which through the bundled TURN
// relay, over which transport.
//
// The package is tests only. Its test binary doubles as the peer: run in a
// site's host namespace with TANDEM_CONNECTIVITY_PEER set to a room URL, it
// joins the call with bench.JoinCall and reports on standard output, one
// JSON object a line (see peer_test.go). The table of the last recorded run,
// and how to regenerate it, is in docs/connectivity.md.
package connectivity
