package app

import (
	"net/netip"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"tandem/app/diag"
	"tandem/turn"
	"tandem/views"
)

// DiagServer runs diagnosis sessions; *diag.Service is one. Serve returns
// when the session is over, and closes conn.
type DiagServer interface {
	Serve(conn diag.Conn, client netip.Addr, page turn.Page)
}

// diagPage serves the connection test.
func (h *handlers) diagPage(c *fiber.Ctx) error {
	return render(c, fiber.StatusOK, views.Diag(h.pageWith(c, "diag.js")))
}

// diagUpgrade vets the diagnosis socket's upgrade as a room's is vetted.
func (h *handlers) diagUpgrade(c *fiber.Ctx) error {
	if h.diag == nil {
		return fiber.ErrNotFound
	}
	ip, err := h.vetUpgrade(c)
	if err != nil {
		return err
	}
	c.Locals("client", ip)
	c.Locals("page", h.pageAddr(c))
	return c.Next()
}

func (h *handlers) diagSocket() fiber.Handler {
	return websocket.New(func(conn *websocket.Conn) {
		client, _ := conn.Locals("client").(netip.Addr)
		page, _ := conn.Locals("page").(turn.Page)
		h.diag.Serve(conn.Conn, client, page)
	}, websocket.Config{
		Origins:          []string{"*"}, // checked in diagUpgrade
		HandshakeTimeout: 10 * time.Second,
		RecoverHandler: func(conn *websocket.Conn) {
			if r := recover(); r != nil {
				h.log.Error("diagnosis socket panicked", "panic", r)
				_ = conn.Close()
			}
		},
	})
}
