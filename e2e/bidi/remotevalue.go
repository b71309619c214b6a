//go:build linux

package bidi

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"time"
)

// Reference stands for a JavaScript value that has no Go equivalent, such
// as a DOM node, a function or a window, or for an object that BiDi did not
// serialise (a repeated or too deeply nested one).
type Reference struct {
	Type       string // the BiDi remote value type, such as "node" or "function"
	Handle     string // the handle, if the result was owned by the script realm
	SharedID   string // a node's id across realms, as input actions take it
	InternalID string // the id of an object that appears twice in one value
}

// RegExp is a JavaScript regular expression.
type RegExp struct {
	Pattern string
	Flags   string
}

// remoteValue is BiDi's script.RemoteValue: a type and, for the types that
// are serialised, a value whose shape depends on the type.
type remoteValue struct {
	Type       string          `json:"type"`
	Value      json.RawMessage `json:"value"`
	Handle     string          `json:"handle"`
	SharedID   string          `json:"sharedId"`
	InternalID string          `json:"internalId"`
}

// decodeRemoteValue turns a BiDi remote value into Go:
//
//   - undefined and null: nil
//   - string: string
//   - number: float64, including NaN, -0 and ±Inf
//   - boolean: bool
//   - bigint: *big.Int
//   - date: time.Time
//   - regexp: RegExp
//   - array and set: []any
//   - object and map: map[string]any, with keys that are not strings
//     formatted with fmt.Sprint
//   - anything else, and objects BiDi left unserialised: Reference
func decodeRemoteValue(raw json.RawMessage) (any, error) {
	var rv remoteValue
	if err := json.Unmarshal(raw, &rv); err != nil {
		return nil, fmt.Errorf("bidi: remote value: %w", err)
	}
	return rv.decode()
}

func (rv remoteValue) decode() (any, error) {
	ref := Reference{Type: rv.Type, Handle: rv.Handle, SharedID: rv.SharedID, InternalID: rv.InternalID}
	switch rv.Type {
	case "undefined", "null":
		return nil, nil
	case "string":
		var s string
		err := rv.unmarshal(&s)
		return s, err
	case "boolean":
		var b bool
		err := rv.unmarshal(&b)
		return b, err
	case "number":
		return rv.number()
	case "bigint":
		var s string
		if err := rv.unmarshal(&s); err != nil {
			return nil, err
		}
		n, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return nil, fmt.Errorf("bidi: remote value: bigint %q", s)
		}
		return n, nil
	case "date":
		var s string
		if err := rv.unmarshal(&s); err != nil {
			return nil, err
		}
		d, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, fmt.Errorf("bidi: remote value: date: %w", err)
		}
		return d, nil
	case "regexp":
		var re RegExp
		err := rv.unmarshal(&re)
		return re, err
	case "array", "set":
		if rv.Value == nil {
			return ref, nil
		}
		return rv.list()
	case "object", "map":
		if rv.Value == nil {
			return ref, nil
		}
		return rv.entries()
	default:
		return ref, nil
	}
}

// unmarshal decodes the value of rv into v.
func (rv remoteValue) unmarshal(v any) error {
	if err := json.Unmarshal(rv.Value, v); err != nil {
		return fmt.Errorf("bidi: remote value: %s: %w", rv.Type, err)
	}
	return nil
}

// number decodes a number, which BiDi sends as a JSON number or, for the
// values JSON cannot hold, as a string.
func (rv remoteValue) number() (float64, error) {
	var special string
	if json.Unmarshal(rv.Value, &special) == nil {
		switch special {
		case "NaN":
			return math.NaN(), nil
		case "-0":
			return math.Copysign(0, -1), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		return 0, fmt.Errorf("bidi: remote value: number %q", special)
	}
	var f float64
	err := rv.unmarshal(&f)
	return f, err
}

// list decodes the elements of an array or a set.
func (rv remoteValue) list() ([]any, error) {
	var items []json.RawMessage
	if err := rv.unmarshal(&items); err != nil {
		return nil, err
	}
	out := make([]any, len(items))
	for i, item := range items {
		v, err := decodeRemoteValue(item)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// entries decodes the [key, value] pairs of an object or a map. A key is a
// string or, in a map, a remote value.
func (rv remoteValue) entries() (map[string]any, error) {
	var pairs [][2]json.RawMessage
	if err := rv.unmarshal(&pairs); err != nil {
		return nil, err
	}
	out := make(map[string]any, len(pairs))
	for _, pair := range pairs {
		var key string
		if json.Unmarshal(pair[0], &key) != nil {
			k, err := decodeRemoteValue(pair[0])
			if err != nil {
				return nil, err
			}
			key = fmt.Sprint(k)
		}
		v, err := decodeRemoteValue(pair[1])
		if err != nil {
			return nil, err
		}
		out[key] = v
	}
	return out, nil
}
