package portmux

import (
	"crypto/tls"
	"io"
	"net"
)

// prefixConn is a connection whose first bytes were read to classify it:
// Read returns them before anything else.
type prefixConn struct {
	net.Conn
	prefix []byte // owned by the reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return readPrefixed(&c.prefix, c.Conn, p) }

// tlsPrefixConn is a prefixConn over TLS. It keeps *tls.Conn's methods
// (ConnectionState, Handshake), by which servers such as fasthttp tell that
// a connection is HTTPS.
type tlsPrefixConn struct {
	*tls.Conn
	prefix []byte // owned by the reader
}

func (c *tlsPrefixConn) Read(p []byte) (int, error) { return readPrefixed(&c.prefix, c.Conn, p) }

// readPrefixed reads what is left of *prefix, then from r.
func readPrefixed(prefix *[]byte, r io.Reader, p []byte) (int, error) {
	if len(*prefix) == 0 {
		return r.Read(p)
	}
	n := copy(p, *prefix)
	*prefix = (*prefix)[n:]
	return n, nil
}
