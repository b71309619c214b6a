package turn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLoggerFactory sends pion's logs to slog. pion logs every refused
// permission at info level, with the client's address, and a client's bad
// credentials or malformed packets as errors. For a server on the internet
// those are routine, and client addresses stay out of logs by default, so
// info becomes debug and errors become warnings.
type pionLoggerFactory struct{ log *slog.Logger }

func (f *pionLoggerFactory) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{log: f.log.With("scope", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) at(level slog.Level, msg string) {
	l.log.Log(context.Background(), level, msg)
}

func (l pionLogger) atf(level slog.Level, format string, args ...any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
	}
}

func (l pionLogger) Trace(msg string)                  { l.at(slog.LevelDebug-4, msg) }
func (l pionLogger) Tracef(format string, args ...any) { l.atf(slog.LevelDebug-4, format, args...) }
func (l pionLogger) Debug(msg string)                  { l.at(slog.LevelDebug, msg) }
func (l pionLogger) Debugf(format string, args ...any) { l.atf(slog.LevelDebug, format, args...) }
func (l pionLogger) Info(msg string)                   { l.at(slog.LevelDebug, msg) }
func (l pionLogger) Infof(format string, args ...any)  { l.atf(slog.LevelDebug, format, args...) }
func (l pionLogger) Warn(msg string)                   { l.at(slog.LevelWarn, msg) }
func (l pionLogger) Warnf(format string, args ...any)  { l.atf(slog.LevelWarn, format, args...) }
func (l pionLogger) Error(msg string)                  { l.at(slog.LevelWarn, msg) }
func (l pionLogger) Errorf(format string, args ...any) { l.atf(slog.LevelWarn, format, args...) }
