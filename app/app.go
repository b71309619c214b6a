// Package app is Tandem's web application: the pages, the static assets and
// the WebSocket endpoint that hands connections to the signaling hub.
package app

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"

	"tandem/assets"
	"tandem/signaling"
	"tandem/signaling/wire"
)

// Config tunes the web application.
type Config struct {
	// Version is the build's version, reported by /healthz.
	Version string
	// HSTS sends Strict-Transport-Security: only for a server that serves
	// HTTPS on its own name for good (ACME).
	HSTS bool
	// AllowedOrigins are origins, besides the page's own, whose pages may
	// open the signaling WebSocket ("https://example.org").
	AllowedOrigins []string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// gives the client address for per-address limits.
	TrustedProxies []netip.Prefix
}

// RoomServer runs signaling connections; *signaling.Hub is one. Start
// returns once the client is seated or refused, and closes conn when the
// connection ends.
type RoomServer interface {
	Start(conn signaling.Conn, req signaling.JoinRequest)
}

// Deps are the services the application uses.
type Deps struct {
	Rooms RoomServer
	// Diag runs the connection test's sessions; nil leaves /diag's checks
	// without a server side.
	Diag DiagServer
	// Ready reports whether the room store can serve (Redis reachable).
	Ready  func(ctx context.Context) error
	Assets *assets.Bundle
	Logger *slog.Logger
}

// New returns the Fiber application with every route mounted.
func New(cfg Config, deps Deps) *fiber.App {
	messages, err := loadCatalogue(deps.Assets)
	if err != nil {
		panic(err) // the catalogue is embedded: a broken one is a build defect
	}
	h := &handlers{
		log:      deps.Logger.With("component", "http"),
		rooms:    deps.Rooms,
		diag:     deps.Diag,
		ready:    deps.Ready,
		assets:   deps.Assets,
		messages: messages,
		origins:  cfg.AllowedOrigins,
		proxies:  cfg.TrustedProxies,
		version:  cfg.Version,
		hsts:     cfg.HSTS,
	}
	app := fiber.New(fiber.Config{
		AppName:               "tandem",
		DisableStartupMessage: true,
		ReadTimeout:           10 * time.Second,
		WriteTimeout:          10 * time.Second,
		IdleTimeout:           60 * time.Second,
		BodyLimit:             16 << 10, // the only body is the room form
		ErrorHandler:          h.error,
		// Behind a trusted reverse proxy, the page's scheme and host are the
		// proxy's (X-Forwarded-Proto, for the origin check). The client's
		// address is handlers.clientIP's business.
		// X-Forwarded-Host and -Proto are believed only from them: with no
		// trusted proxy, from nobody (Fiber believes anyone when the check
		// is off).
		EnableTrustedProxyCheck: true,
		TrustedProxies:          prefixStrings(cfg.TrustedProxies),
		EnableIPValidation:      true,
		// A WebSocket keeps what fasthttp holds when it is upgraded. With
		// this, that excludes the 4 KiB read buffer, released as soon as a
		// request has been read.
		ReduceMemoryUsage: true,
	})
	app.Use(securityHeaders(cfg.HSTS))
	app.Use(compress.New(compress.Config{
		Next: func(c *fiber.Ctx) bool { return strings.HasPrefix(c.Path(), "/ws/") },
	}))

	app.Get("/", h.home)
	app.Post("/rooms", h.createRoom)
	app.Get("/r/:room", h.room)
	app.Get("/ws/:room", h.checkUpgrade, h.websocket())
	app.Get("/diag", h.diagPage)
	app.Get(wire.DiagPath, h.diagUpgrade, h.diagSocket())
	app.Get(assets.Prefix+"*", h.asset)
	app.Get("/healthz", h.healthz)
	app.Get("/readyz", h.readyz)
	app.Use(func(*fiber.Ctx) error { return fiber.ErrNotFound })
	// A WebSocket outlives its handler, which returns once the client is
	// seated (see handlers.websocket): until the handler returns, fasthttp
	// keeps the upgrade's request and context, and its goroutine keeps the
	// stack that joining grew. So fasthttp must leave hijacked connections
	// open; the signaling hub closes them. fasthttp 1.76 or later is
	// needed: earlier ones gave a hijacked connection's read buffer back to
	// their pool while the connection still read through it
	// (TestFrameWithUpgrade).
	app.Server().KeepHijackedConns = true
	return app
}

// error turns any handler error into a short plain-text answer.
func (h *handlers) error(c *fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	var fe *fiber.Error
	if errors.As(err, &fe) {
		code = fe.Code
	} else {
		h.log.Error("request failed", "path", c.Path(), "err", err)
	}
	msg := fiber.ErrInternalServerError.Message
	if fe != nil {
		msg = fe.Message
	}
	// Errors fasthttp raises itself (413, 431, 408) come here without
	// passing the middleware.
	setSecurityHeaders(c, h.hsts)
	c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	return c.Status(code).SendString(msg)
}

// securityHeaders sets the headers every response carries: no inline code,
// no framing, no referrer (room names must not leak to other sites), and
// camera, microphone and screen capture for this origin only. A WebSocket
// upgrade (101) gets none: they mean nothing there, and fasthttp keeps an
// upgraded connection's response headers as long as the connection lasts.
// With hsts, browsers are told to use HTTPS only for a year.
func securityHeaders(hsts bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := c.Next()
		if c.Response().StatusCode() == fiber.StatusSwitchingProtocols {
			return err
		}
		setSecurityHeaders(c, hsts)
		return err
	}
}

func setSecurityHeaders(c *fiber.Ctx, hsts bool) {
	c.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"media-src 'self' blob: mediastream:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	c.Set("Permissions-Policy", "camera=(self), microphone=(self), display-capture=(self)")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Cross-Origin-Opener-Policy", "same-origin")
	if hsts {
		c.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// prefixStrings formats prefixes the way Fiber takes them.
func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
