package harness

import (
	"net"

	"github.com/pion/turn/v5"
)

// Allocate makes one TURN allocation at addr over conn (a UDP socket, or
// turn.NewSTUNConn of a TCP or TLS connection) and releases it.
func Allocate(conn net.PacketConn, addr, username, password string) error {
	client, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr, TURNServerAddr: addr, Conn: conn,
		Username: username, Password: password, Realm: "tandem",
	})
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.Listen(); err != nil {
		return err
	}
	relay, err := client.Allocate()
	if err != nil {
		return err
	}
	return relay.Close()
}
