//go:build linux

package bidi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Tab is a top-level browsing context: one tab of the browser.
type Tab struct {
	b  *Browser
	id string // the browsing context id
}

// ID is the tab's browsing context id, for commands sent with Call.
func (t *Tab) ID() string { return t.id }

// Navigate loads url in the tab and waits until the document and its
// resources have loaded (BiDi's wait "complete").
func (t *Tab) Navigate(ctx context.Context, url string) error {
	params := map[string]any{"context": t.id, "url": url, "wait": "complete"}
	return t.b.Call(ctx, "browsingContext.navigate", params, nil)
}

// Reload reloads the tab's document and waits until it has loaded.
func (t *Tab) Reload(ctx context.Context) error {
	params := map[string]any{"context": t.id, "wait": "complete"}
	return t.b.Call(ctx, "browsingContext.reload", params, nil)
}

// AddPreloadScript makes every document the tab loads from now on run the
// JavaScript function declaration fn, such as "() => { window.x = 1; }",
// before its own scripts. It returns the script's id.
func (t *Tab) AddPreloadScript(ctx context.Context, fn string) (string, error) {
	params := map[string]any{"functionDeclaration": fn, "contexts": []string{t.id}}
	var res struct {
		Script string `json:"script"`
	}
	if err := t.b.Call(ctx, "script.addPreloadScript", params, &res); err != nil {
		return "", err
	}
	return res.Script, nil
}

// Evaluate runs the JavaScript expression in the tab's document, as if the
// user had just interacted with the page, waits for the promise it
// returns, if any, and returns its value decoded as decodeRemoteValue
// describes: nil, string, float64, bool, []any, map[string]any and so on.
// An exception or a rejected promise is a *ScriptError.
func (t *Tab) Evaluate(ctx context.Context, expr string) (any, error) {
	raw, err := t.evaluate(ctx, expr)
	if err != nil {
		return nil, err
	}
	return decodeRemoteValue(raw)
}

// EvaluateInto is Evaluate with the value stored into out, a pointer, as
// encoding/json would store the value's JSON into it.
func (t *Tab) EvaluateInto(ctx context.Context, expr string, out any) error {
	v, err := t.Evaluate(ctx, expr)
	if err != nil {
		return err
	}
	j, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("bidi: evaluate: %w", err)
	}
	if err := json.Unmarshal(j, out); err != nil {
		return fmt.Errorf("bidi: evaluate: %w", err)
	}
	return nil
}

// rejectionMarker precedes the reason of a rejected promise in the error
// with which Firefox answers script.evaluate.
const rejectionMarker = "unable to build exceptionDetails for exception: "

// evaluate runs script.evaluate and returns the raw remote value.
func (t *Tab) evaluate(ctx context.Context, expr string) (json.RawMessage, error) {
	params := map[string]any{
		"expression":      expr,
		"target":          map[string]any{"context": t.id},
		"awaitPromise":    true,
		"resultOwnership": "none",
		"userActivation":  true,
	}
	var res struct {
		Type             string          `json:"type"` // "success" or "exception"
		Result           json.RawMessage `json:"result"`
		ExceptionDetails struct {
			Text         string `json:"text"`
			LineNumber   int    `json:"lineNumber"`
			ColumnNumber int    `json:"columnNumber"`
		} `json:"exceptionDetails"`
	}
	if err := t.b.Call(ctx, "script.evaluate", params, &res); err != nil {
		// Firefox 153 fails to describe the reason of a rejected promise
		// and answers with an unknown error that quotes it.
		var e *Error
		if errors.As(err, &e) && e.Code == "unknown error" {
			if _, text, ok := strings.Cut(e.Message, rejectionMarker); ok {
				return nil, &ScriptError{Text: text, Line: -1, Column: -1}
			}
		}
		return nil, err
	}
	if res.Type == "exception" {
		d := res.ExceptionDetails
		return nil, &ScriptError{Text: d.Text, Line: d.LineNumber, Column: d.ColumnNumber}
	}
	return res.Result, nil
}

// Origin says what a screenshot covers.
type Origin string

const (
	// OriginViewport is what the viewport shows.
	OriginViewport Origin = "viewport"
	// OriginDocument is the whole document, scrolled parts included.
	OriginDocument Origin = "document"
)

// Screenshot returns a PNG image of the tab.
func (t *Tab) Screenshot(ctx context.Context, origin Origin) ([]byte, error) {
	params := map[string]any{
		"context": t.id,
		"origin":  origin,
		"format":  map[string]any{"type": "image/png"},
	}
	var res struct {
		Data string `json:"data"`
	}
	if err := t.b.Call(ctx, "browsingContext.captureScreenshot", params, &res); err != nil {
		return nil, err
	}
	png, err := base64.StdEncoding.DecodeString(res.Data)
	if err != nil {
		return nil, fmt.Errorf("bidi: screenshot: %w", err)
	}
	return png, nil
}

// SaveScreenshot writes a PNG image of the tab to file, creating its
// directory.
func (t *Tab) SaveScreenshot(ctx context.Context, origin Origin, file string) error {
	png, err := t.Screenshot(ctx, origin)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("bidi: screenshot: %w", err)
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		return fmt.Errorf("bidi: screenshot: %w", err)
	}
	return nil
}

// Viewport is the size of a tab's page, in CSS pixels.
type Viewport struct {
	Width, Height int
	// DevicePixelRatio is how many device pixels a CSS pixel covers, as on
	// a phone's screen; 0 means the screen's own.
	DevicePixelRatio float64
}

// SetViewport resizes the tab's page and sets its device pixel ratio.
func (t *Tab) SetViewport(ctx context.Context, v Viewport) error {
	var dpr any // null: back to the screen's own
	if v.DevicePixelRatio != 0 {
		dpr = v.DevicePixelRatio
	}
	params := map[string]any{
		"context":          t.id,
		"viewport":         map[string]any{"width": v.Width, "height": v.Height},
		"devicePixelRatio": dpr,
	}
	return t.b.Call(ctx, "browsingContext.setViewport", params, nil)
}

// Close closes the tab.
func (t *Tab) Close(ctx context.Context) error {
	return t.b.Call(ctx, "browsingContext.close", map[string]any{"context": t.id}, nil)
}
