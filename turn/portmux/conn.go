package portmux

import (
	"crypto/tls"
	"net"
)

// prefixConn is a connection whose first bytes were read to classify it:
// Read returns them before anything else.
type prefixConn struct {
	net.Conn
	prefix []byte // owned by the reader
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// tlsPrefixConn is a prefixConn over TLS. It keeps *tls.Conn's methods
// (ConnectionState, Handshake), by which servers such as fasthttp tell that
// a connection is HTTPS.
type tlsPrefixConn struct {
	*tls.Conn
	prefix []byte // owned by the reader
}

func (c *tlsPrefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
