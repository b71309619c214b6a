package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/utils"

	"tandem/assets"
	"tandem/signaling"
	"tandem/signaling/wire"
	"tandem/turn"
	"tandem/views"
)

type handlers struct {
	log      *slog.Logger
	rooms    RoomServer
	diag     DiagServer // nil: no diagnosis socket
	ready    func(ctx context.Context) error
	assets   *assets.Bundle
	messages catalogue
	origins  []string
	proxies  []netip.Prefix // trusted reverse proxies
	version  string
	hsts     bool // send Strict-Transport-Security
}

// viewAssets are the assets of a page whose script is script, and whose
// own stylesheet, if it has one, is named like it (diag.js, diag.css).
func (h *handlers) viewAssets(script string) views.Assets {
	return views.Assets{CSS: h.assets.URL("style.css"), PageCSS: h.assets.URL(strings.TrimSuffix(script, ".js") + ".css"),
		Script: h.assets.URL(script), Favicon: h.assets.URL("favicon.svg"),
		Messages: h.assets.URL(messagesAsset), Modules: h.assets.ModuleURLs(script)}
}

func render(c *fiber.Ctx, status int, page templ.Component) error {
	c.Status(status).Type("html", "utf-8")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return page.Render(c.UserContext(), c.Response().BodyWriter())
}

func (h *handlers) home(c *fiber.Ctx) error {
	return render(c, fiber.StatusOK, views.Home(h.page(c), "", ""))
}

// roomProblem explains to a person why a room name was refused. The reason
// is in English; the Chinese text leaves it out.
func roomProblem(p views.Page, err error) string {
	reason := strings.TrimPrefix(err.Error(), signaling.ErrInvalidRoom.Error()+": ")
	return strings.ReplaceAll(p.T("home.problem"), "{reason}", reason)
}

// createRoom handles the entry form: a random room or the typed one.
func (h *handlers) createRoom(c *fiber.Ctx) error {
	if c.FormValue("action") == "new" {
		return c.Redirect(roomPath(signaling.RandomRoom()), fiber.StatusSeeOther)
	}
	typed := utils.CopyString(c.FormValue("name"))
	room, err := signaling.NormalizeRoom(typed)
	if err != nil {
		p := h.page(c)
		return render(c, fiber.StatusBadRequest, views.Home(p, typed, roomProblem(p, err)))
	}
	return c.Redirect(roomPath(room), fiber.StatusSeeOther)
}

func roomPath(room string) string { return "/r/" + url.PathEscape(room) }

// paramRoom reads and normalises the :room path parameter.
func paramRoom(c *fiber.Ctx) (raw, room string, err error) {
	raw, err = url.PathUnescape(c.Params("room"))
	if err != nil {
		return c.Params("room"), "", fmt.Errorf("%w: bad escape", signaling.ErrInvalidRoom)
	}
	raw = utils.CopyString(raw)
	room, err = signaling.NormalizeRoom(raw)
	return raw, room, err
}

// room serves the call page. A name that is not in canonical form is
// redirected to it, so every link to one room looks the same.
func (h *handlers) room(c *fiber.Ctx) error {
	raw, room, err := paramRoom(c)
	if err != nil {
		p := h.page(c)
		return render(c, fiber.StatusBadRequest, views.Home(p, raw, roomProblem(p, err)))
	}
	if raw != room {
		target := roomPath(room)
		if q := c.Context().QueryArgs().String(); q != "" {
			target += "?" + q
		}
		return c.Redirect(target, fiber.StatusPermanentRedirect)
	}
	link := c.BaseURL() + roomPath(room)
	qr, err := qrSVG(link)
	if err != nil {
		h.log.Error("room page without QR code", "err", err)
	}
	return render(c, fiber.StatusOK, views.Room(h.page(c), room, link, qr))
}

// checkUpgrade vets a WebSocket request before any room state changes: the
// room name, the upgrade itself, and the Origin (cross-site WebSocket
// hijacking). Requests without an Origin are not from a browser page.
func (h *handlers) checkUpgrade(c *fiber.Ctx) error {
	_, room, err := paramRoom(c)
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, wire.CodeInvalidRoom+": "+err.Error())
	}
	ip, err := h.vetUpgrade(c)
	if err != nil {
		return err
	}
	c.Locals("join", signaling.JoinRequest{
		Room:      room,
		Page:      h.pageAddr(c),
		ClientIP:  ip,
		SeatToken: utils.CopyString(c.Query("seat")),
	})
	return c.Next()
}

// vetUpgrade checks what every WebSocket upgrade needs, a room's or the
// connection test's: an upgrade, from this site's pages (or an allowed
// origin), from a known address, which it returns.
func (h *handlers) vetUpgrade(c *fiber.Ctx) (netip.Addr, error) {
	if !websocket.IsWebSocketUpgrade(c) {
		return netip.Addr{}, fiber.ErrUpgradeRequired
	}
	if origin := c.Get(fiber.HeaderOrigin); origin != "" && origin != c.BaseURL() && !slices.Contains(h.origins, origin) {
		h.log.Warn("websocket origin refused", "origin", origin)
		return netip.Addr{}, fiber.NewError(fiber.StatusForbidden, "origin not allowed")
	}
	ip, ok := h.clientIP(c)
	if !ok {
		return netip.Addr{}, fiber.NewError(fiber.StatusBadRequest, "unknown client address")
	}
	return ip.Unmap(), nil
}

// pageAddr says where the browser loaded the page from, for the TURN URLs
// that name the web port: the host and port it reached, and whether over
// TLS. Through a reverse proxy the port is 0: the proxy carries HTTP, not
// TURN.
func (h *handlers) pageAddr(c *fiber.Ctx) turn.Page {
	host, port := c.Hostname(), 0
	if hostOnly, p, err := net.SplitHostPort(host); err == nil {
		host = hostOnly
		port, _ = strconv.Atoi(p)
	}
	secure := c.Protocol() == "https"
	if port == 0 {
		port = 80
		if secure {
			port = 443
		}
	}
	if remote, ok := netip.AddrFromSlice(c.Context().RemoteIP()); !ok || h.trusted(remote.Unmap()) {
		port = 0
	}
	return turn.Page{Host: utils.CopyString(host), Port: port, TLS: secure}
}

func (h *handlers) websocket() fiber.Handler {
	return websocket.New(func(conn *websocket.Conn) {
		req, _ := conn.Locals("join").(signaling.JoinRequest)
		// The hub serves the WebSocket beneath conn on a goroutine of its
		// own once the client is seated, so this returns early. contrib
		// reuses conn itself then, but not the WebSocket, which fasthttp
		// leaves open (KeepHijackedConns) and the hub closes.
		h.rooms.Start(conn.Conn, req)
	}, websocket.Config{
		// Origins are checked in checkUpgrade, against the request's own host.
		Origins:          []string{"*"},
		HandshakeTimeout: 10 * time.Second,
		// Memory per idle socket: the read buffer is kept small, yet an
		// ICE candidate or a 1 KB signal with its framing is one read
		// system call (with 512 B, a 1 KB signal took three; an SDP takes
		// a few). A write buffer is lent only while writing. It holds a
		// whole SDP, so a frame is one write system call (a larger frame
		// takes one per buffer's worth).
		ReadBufferSize:  1280,
		WriteBufferSize: 8 << 10,
		WriteBufferPool: &sync.Pool{},
		RecoverHandler: func(conn *websocket.Conn) {
			if r := recover(); r != nil {
				h.log.Error("websocket handler panicked", "panic", r)
				_ = conn.Close()
			}
		},
	})
}

func (h *handlers) asset(c *fiber.Ctx) error {
	f, ok := h.assets.ByURL(c.Path())
	if !ok {
		return fiber.ErrNotFound
	}
	c.Set(fiber.HeaderContentType, f.ContentType)
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	return c.Send(f.Body)
}

// clientIP is the address of the client a request comes from, for
// per-address limits. Behind a trusted proxy it is the right-most
// X-Forwarded-For entry that is not itself a trusted proxy: each proxy
// appends the address it was reached from, so the entries further left
// are whatever the client wrote. (Fiber's c.IP() takes the left-most.)
func (h *handlers) clientIP(c *fiber.Ctx) (netip.Addr, bool) {
	remote, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return netip.Addr{}, false
	}
	ip := remote.Unmap()
	if !h.trusted(ip) {
		return ip, true
	}
	forwarded := forwardedFor(c)
	for i := len(forwarded) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(forwarded[i])
		if err != nil {
			break
		}
		if ip = a.Unmap(); !h.trusted(ip) {
			return ip, true
		}
	}
	return ip, true // every hop read is a trusted proxy: the left-most of them
}

// forwardedFor is every X-Forwarded-For entry, from every line of the
// header in order: a proxy may add a line of its own rather than append
// to the client's (HAProxy's option forwardfor does). c.IPs() reads the
// first line only, which the client writes.
func forwardedFor(c *fiber.Ctx) []string {
	var out []string
	for _, line := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		for _, entry := range strings.Split(string(line), ",") {
			if entry = strings.TrimSpace(entry); entry != "" {
				out = append(out, entry)
			}
		}
	}
	return out
}

func (h *handlers) trusted(ip netip.Addr) bool {
	return slices.ContainsFunc(h.proxies, func(p netip.Prefix) bool { return p.Contains(ip) })
}
