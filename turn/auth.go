package turn

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/pion/turn/v5"
)

// maxUserLen bounds the user part of a username; ours are 16 hex digits.
const maxUserLen = 128

var errBadUsername = errors.New("turn: not a TURN REST API username")

// ParseUsername splits a TURN REST API username, "<expiry-unix-seconds>:<user>".
func ParseUsername(username string) (expiry time.Time, user string, err error) {
	ts, user, ok := strings.Cut(username, ":")
	if !ok || len(ts) == 0 || len(ts) > 12 || len(user) == 0 || len(user) > maxUserLen {
		return time.Time{}, "", fmt.Errorf("%w: %q", errBadUsername, truncate(username))
	}
	for _, r := range ts {
		if r < '0' || r > '9' {
			return time.Time{}, "", fmt.Errorf("%w: %q", errBadUsername, truncate(username))
		}
	}
	for _, r := range user {
		if r < 0x21 || r > 0x7e {
			return time.Time{}, "", fmt.Errorf("%w: user part must be printable ASCII", errBadUsername)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("%w: %v", errBadUsername, err)
	}
	return time.Unix(unix, 0), user, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// maxClockSkew is how far a credential's expiry may lie beyond the
// credential TTL from now: instances sharing a secret mint with their own
// clocks.
const maxClockSkew = time.Minute

// authHandler checks TURN REST API credentials. Malformed and expired
// usernames are refused before any HMAC is computed, and logged at debug
// level only, so a 401 flood costs little and does not flood the logs.
// So are credentials that expire further ahead than ttl (and the clock
// skew): a leaked or hand-minted ten-year credential does not work.
//
// During a secret rotation, credentials that expire before started+ttl
// were minted before this process started, with the previous secret;
// later ones are checked against the current secret.
func authHandler(current, previous string, started time.Time, ttl time.Duration, log *slog.Logger, loggers *pionLoggerFactory) turn.AuthHandler {
	rotationCutoff := started.Add(ttl)
	check := turn.LongTermTURNRESTAuthHandler(current, loggers.NewLogger("auth"))
	var checkPrevious turn.AuthHandler
	if previous != "" {
		checkPrevious = turn.LongTermTURNRESTAuthHandler(previous, loggers.NewLogger("auth"))
	}
	return func(ra *turn.RequestAttributes) (string, []byte, bool) {
		expiry, _, err := ParseUsername(ra.Username)
		if err != nil {
			log.Debug("TURN auth refused", "reason", err)
			return "", nil, false
		}
		now := time.Now()
		if now.After(expiry) {
			log.Debug("TURN auth refused", "reason", "expired")
			return "", nil, false
		}
		if expiry.After(now.Add(ttl + maxClockSkew)) {
			log.Debug("TURN auth refused", "reason", "expiry beyond the credential TTL")
			return "", nil, false
		}
		// Whole seconds: a credential minted in the cutoff's own second is new.
		if checkPrevious != nil && expiry.Unix() < rotationCutoff.Unix() {
			return checkPrevious(ra)
		}
		return check(ra)
	}
}
