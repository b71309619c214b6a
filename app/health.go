package app

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"
)

// health is what /healthz and /readyz report.
type health struct {
	Status  string `json:"status"`  // "ok" or "degraded"
	Rooms   string `json:"rooms"`   // the room store: "ok" or "unavailable"
	Version string `json:"version"` // the build's
}

func (h *handlers) check(c *fiber.Ctx) health {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if h.ready != nil {
		if err := h.ready(ctx); err != nil {
			// The error names internal addresses: it goes to the log, which
			// the operator reads, not to whoever asks.
			h.log.Warn("room store not ready", "err", err)
			return health{Status: "degraded", Rooms: "unavailable", Version: h.version}
		}
	}
	return health{Status: "ok", Rooms: "ok", Version: h.version}
}

// healthz answers 200 while the process serves, and says whether the room
// store (Redis) is reachable: calls in progress keep their media without it.
func (h *handlers) healthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(h.check(c))
}

// readyz answers 503 while the room store is unreachable, so a load
// balancer sends new people to another instance.
func (h *handlers) readyz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	st := h.check(c)
	if st.Status != "ok" {
		c.Status(fiber.StatusServiceUnavailable)
	}
	return c.JSON(st)
}
