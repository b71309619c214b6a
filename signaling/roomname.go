package signaling

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxRoomNameLen is the longest room name, in characters (runes).
const MaxRoomNameLen = 64

// NormalizeRoom returns the canonical form of a room name: NFC-normalised and
// case-folded, so "Team-A" and "team-a" name one room. A valid name is 1 to 64
// letters, digits or marks of any script plus '-', '_' and '.', and is not
// made of dots alone (which would read as a path). Anything else returns an
// error wrapping ErrInvalidRoom.
func NormalizeRoom(name string) (string, error) {
	if !plainASCII(name) {
		if !utf8.ValidString(name) {
			return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidRoom)
		}
		name = fold(name)
	}
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return "", fmt.Errorf("%w: empty", ErrInvalidRoom)
	}
	if n > MaxRoomNameLen {
		return "", fmt.Errorf("%w: longer than %d characters", ErrInvalidRoom, MaxRoomNameLen)
	}
	onlyDots := true
	for i, r := range name {
		switch {
		case r == '-' || r == '_':
		case r == '.':
			continue
		case unicode.IsLetter(r) || unicode.IsDigit(r):
		case unicode.IsMark(r) && i > 0:
			// Combining marks carry vowels in scripts such as Devanagari.
		default:
			return "", fmt.Errorf("%w: %q is not allowed", ErrInvalidRoom, r)
		}
		onlyDots = false
	}
	if onlyDots {
		return "", fmt.Errorf("%w: only dots", ErrInvalidRoom)
	}
	return name, nil
}

// plainASCII reports whether name uses only a-z, 0-9, '-', '_' and '.',
// which folding and normalisation leave as they are. Most names are like
// this (every random one is), and skip the costly transforms.
func plainASCII(name string) bool {
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// fold case-folds name and composes it again (folding can undo composition:
// "ǅ" → "ǆ").
func fold(name string) string {
	return settleFold(norm.NFC.String(cases.Fold().String(norm.NFC.String(name))))
}

// settleFold makes folding idempotent. For a few scripts the folder maps
// letters back and forth: Cherokee "ꮮ" folds to "Ꮮ" and "Ꮮ" to "ꮮ", which
// would make two names for one room (and a redirect loop between them).
// Each such letter settles on the smaller code point of its pair.
func settleFold(folded string) string {
	var b strings.Builder
	changed := false
	for _, r := range folded {
		if r < utf8.RuneSelf {
			b.WriteRune(r) // folded ASCII is stable
			continue
		}
		if f := []rune(cases.Fold().String(string(r))); len(f) == 1 && f[0] < r {
			r, changed = f[0], true
		}
		b.WriteRune(r)
	}
	if !changed {
		return folded
	}
	return norm.NFC.String(b.String())
}

// roomAlphabet is Crockford's base32 in lower case: no i, l, o or u, so a name
// read aloud or copied by hand survives.
var roomAlphabet = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// RandomRoom returns an unguessable room name with 80 bits of randomness, in
// four groups of four characters ("b7kq-m2xr-9hdt-4wpz").
func RandomRoom() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	s := roomAlphabet.EncodeToString(b[:])
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}
