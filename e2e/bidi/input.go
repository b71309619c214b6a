//go:build linux

package bidi

import (
	"context"
	"encoding/json"
	"fmt"
)

// Keys that have no character of their own, from WebDriver's table of
// normalised key values, for Tab.Type.
const (
	KeyBackspace = "\uE003"
	KeyTab       = "\uE004"
	KeyEnter     = "\uE007"
	KeyEscape    = "\uE00C"
	KeySpace     = "\uE00D"
	KeyLeft      = "\uE012"
	KeyUp        = "\uE013"
	KeyRight     = "\uE014"
	KeyDown      = "\uE015"
)

// locateJS finds the element of a CSS selector and scrolls it into the
// middle of the viewport, where the pointer can reach it.
const locateJS = `((selector) => {
  const el = document.querySelector(selector);
  if (el) el.scrollIntoView({ block: "center", inline: "center" });
  return el;
})(%s)`

// Click moves the mouse to the middle of the first element that matches
// the CSS selector and presses and releases its left button there, as a
// person would: the page sees trusted events and a user gesture.
func (t *Tab) Click(ctx context.Context, selector string) error {
	arg, err := json.Marshal(selector)
	if err != nil {
		return fmt.Errorf("bidi: click %s: %w", selector, err)
	}
	raw, err := t.evaluate(ctx, fmt.Sprintf(locateJS, arg))
	if err != nil {
		return fmt.Errorf("bidi: click %s: %w", selector, err)
	}
	var node remoteValue
	if err := json.Unmarshal(raw, &node); err != nil {
		return fmt.Errorf("bidi: click %s: %w", selector, err)
	}
	if node.Type != "node" || node.SharedID == "" {
		return fmt.Errorf("bidi: click %s: no such element", selector)
	}
	origin := map[string]any{"type": "element", "element": map[string]any{"sharedId": node.SharedID}}
	mouse := map[string]any{
		"type":       "pointer",
		"id":         "mouse",
		"parameters": map[string]any{"pointerType": "mouse"},
		"actions": []map[string]any{
			{"type": "pointerMove", "x": 0, "y": 0, "origin": origin},
			{"type": "pointerDown", "button": 0},
			{"type": "pointerUp", "button": 0},
		},
	}
	return t.performActions(ctx, mouse)
}

// Type presses and releases the key of each character of keys in turn, in
// whatever element has the focus. A character may be one of the Key
// constants, such as KeyEnter.
func (t *Tab) Type(ctx context.Context, keys string) error {
	var actions []map[string]any
	for _, r := range keys {
		actions = append(actions,
			map[string]any{"type": "keyDown", "value": string(r)},
			map[string]any{"type": "keyUp", "value": string(r)},
		)
	}
	keyboard := map[string]any{"type": "key", "id": "keyboard", "actions": actions}
	return t.performActions(ctx, keyboard)
}

// performActions runs one input source's actions and then releases
// whatever they left pressed.
func (t *Tab) performActions(ctx context.Context, source map[string]any) error {
	params := map[string]any{"context": t.id, "actions": []any{source}}
	if err := t.b.Call(ctx, "input.performActions", params, nil); err != nil {
		return err
	}
	return t.b.Call(ctx, "input.releaseActions", map[string]any{"context": t.id}, nil)
}
