//go:build linux

package bidi

import (
	"math"
	"math/big"
	"reflect"
	"testing"
	"time"
)

// TestDecodeRemoteValue decodes remote values as BiDi serialises them.
func TestDecodeRemoteValue(t *testing.T) {
	cases := []struct {
		name string
		raw  string
		want any
	}{
		{"string", `{"type":"string","value":"a\"b"}`, `a"b`},
		{"number", `{"type":"number","value":1.5}`, 1.5},
		{"-Infinity", `{"type":"number","value":"-Infinity"}`, math.Inf(-1)},
		{"boolean", `{"type":"boolean","value":false}`, false},
		{"null", `{"type":"null"}`, nil},
		{"undefined", `{"type":"undefined"}`, nil},
		{"bigint", `{"type":"bigint","value":"100000000000000000000"}`, new(big.Int).Exp(big.NewInt(10), big.NewInt(20), nil)},
		{"date", `{"type":"date","value":"2024-02-29T12:00:00.000Z"}`, time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC)},
		{"regexp", `{"type":"regexp","value":{"pattern":"a+","flags":"gi"}}`, RegExp{Pattern: "a+", Flags: "gi"}},
		{"array", `{"type":"array","value":[{"type":"number","value":1},{"type":"array","value":[]}]}`, []any{1.0, []any{}}},
		{"set", `{"type":"set","value":[{"type":"string","value":"x"}]}`, []any{"x"}},
		{"object", `{"type":"object","value":[["a",{"type":"null"}],["b",{"type":"object","value":[]}]]}`,
			map[string]any{"a": nil, "b": map[string]any{}}},
		{"map with a number key", `{"type":"map","value":[[{"type":"number","value":7},{"type":"string","value":"seven"}]]}`,
			map[string]any{"7": "seven"}},
		{"repeated object", `{"type":"object","internalId":"1"}`, Reference{Type: "object", InternalID: "1"}},
		{"node", `{"type":"node","sharedId":"f.1.d.2","value":{"nodeType":1,"localName":"button"}}`,
			Reference{Type: "node", SharedID: "f.1.d.2"}},
		{"function", `{"type":"function","handle":"h1"}`, Reference{Type: "function", Handle: "h1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeRemoteValue([]byte(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestDecodeSpecialNumbers checks the numbers that JSON cannot hold.
func TestDecodeSpecialNumbers(t *testing.T) {
	cases := []struct {
		value string
		check func(float64) bool
	}{
		{"NaN", math.IsNaN},
		{"-0", func(f float64) bool { return f == 0 && math.Signbit(f) }},
		{"Infinity", func(f float64) bool { return math.IsInf(f, 1) }},
	}
	for _, tc := range cases {
		got, err := decodeRemoteValue([]byte(`{"type":"number","value":"` + tc.value + `"}`))
		if err != nil {
			t.Fatalf("%s: %v", tc.value, err)
		}
		if f, ok := got.(float64); !ok || !tc.check(f) {
			t.Errorf("%s: got %#v", tc.value, got)
		}
	}
}

// TestDecodeRemoteValueErrors checks that malformed values are errors.
func TestDecodeRemoteValueErrors(t *testing.T) {
	for _, raw := range []string{
		`not json`,
		`{"type":"number","value":"Eleven"}`,
		`{"type":"bigint","value":"1.5"}`,
		`{"type":"date","value":"yesterday"}`,
		`{"type":"array","value":[{"type":"number","value":"x"}]}`,
	} {
		if v, err := decodeRemoteValue([]byte(raw)); err == nil {
			t.Errorf("%s: decoded as %#v, want an error", raw, v)
		}
	}
}
