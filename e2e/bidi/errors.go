//go:build linux

package bidi

import (
	"errors"
	"fmt"
)

// ErrClosed is returned by commands on a session whose WebSocket is closed,
// because Close was called or Firefox went away.
var ErrClosed = errors.New("bidi: connection closed")

// Error is the answer of Firefox to a command that failed.
type Error struct {
	Method  string // the command, such as "browsingContext.navigate"
	Code    string // the BiDi error code, such as "unknown error" or "no such frame"
	Message string // Firefox's explanation
}

func (e *Error) Error() string {
	return fmt.Sprintf("bidi: %s: %s: %s", e.Method, e.Code, e.Message)
}

// ScriptError is a JavaScript exception thrown by an evaluated expression,
// or the rejection of the promise it returned.
type ScriptError struct {
	Text   string // the exception as a string, such as "Error: no track"
	Line   int    // the line of the expression where it was thrown, from 0; -1 if unknown
	Column int    // the column, from 0; -1 if unknown
}

func (e *ScriptError) Error() string {
	return fmt.Sprintf("bidi: script: %s (line %d, column %d)", e.Text, e.Line, e.Column)
}
