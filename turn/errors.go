package turn

import "errors"

// Sentinel errors returned by the TURN server and its configuration.
var (
	ErrNoSecret              = errors.New("turn: shared secret is empty")
	ErrBadPortRange          = errors.New("turn: relay port range is invalid")
	ErrPortInRelayRange      = errors.New("turn: listening port lies inside the relay port range")
	ErrTCPRelay              = errors.New("turn: TCP relay allocations are not supported")
	ErrBadICEURL             = errors.New("turn: ICE server URL must start with stun:, stuns:, turn: or turns:")
	ErrTLSWithoutCertificate = errors.New("turn: a TLS listener needs a certificate")
	ErrBitrateTooLow         = errors.New("turn: maximum bitrate is too low for a call (it is in bits per second; negative means no cap)")
)
