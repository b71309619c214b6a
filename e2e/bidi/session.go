//go:build linux

package bidi

import (
	"context"
)

// Call sends any BiDi command and decodes the result of its success into
// result, unless result is nil. It returns an *Error when Firefox answers
// with an error.
func (b *Browser) Call(ctx context.Context, method string, params, result any) error {
	return b.conn.call(ctx, method, params, result)
}

// Subscribe asks for events, such as "log.entryAdded" or
// "browsingContext.load", to be passed to Options.OnEvent.
func (b *Browser) Subscribe(ctx context.Context, events ...string) error {
	return b.Call(ctx, "session.subscribe", map[string]any{"events": events}, nil)
}

// NewUserContext creates a user context, BiDi's name for a set of tabs
// that share cookies and storage with each other and with no other tab,
// and returns its id.
func (b *Browser) NewUserContext(ctx context.Context) (string, error) {
	var res struct {
		UserContext string `json:"userContext"`
	}
	if err := b.Call(ctx, "browser.createUserContext", nil, &res); err != nil {
		return "", err
	}
	return res.UserContext, nil
}

// NewTab opens a tab on about:blank in userContext, an id from
// NewUserContext; empty means the default user context.
func (b *Browser) NewTab(ctx context.Context, userContext string) (*Tab, error) {
	params := map[string]any{"type": "tab"}
	if userContext != "" {
		params["userContext"] = userContext
	}
	var res struct {
		Context string `json:"context"`
	}
	if err := b.Call(ctx, "browsingContext.create", params, &res); err != nil {
		return nil, err
	}
	return &Tab{b: b, id: res.Context}, nil
}
