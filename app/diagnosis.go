package app

import (
	"net/netip"
	"slices"
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

// diagUpgrade vets the diagnosis socket's upgrade as checkUpgrade vets a
// room's: an upgrade, from this site's pages, from a known address.
func (h *handlers) diagUpgrade(c *fiber.Ctx) error {
	if h.diag == nil {
		return fiber.ErrNotFound
	}
	if !websocket.IsWebSocketUpgrade(c) {
		return fiber.ErrUpgradeRequired
	}
	if origin := c.Get(fiber.HeaderOrigin); origin != "" && origin != c.BaseURL() && !slices.Contains(h.origins, origin) {
		h.log.Warn("websocket origin refused", "origin", origin)
		return fiber.NewError(fiber.StatusForbidden, "origin not allowed")
	}
	ip, ok := h.clientIP(c)
	if !ok {
		return fiber.NewError(fiber.StatusBadRequest, "unknown client address")
	}
	c.Locals("client", ip.Unmap())
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
