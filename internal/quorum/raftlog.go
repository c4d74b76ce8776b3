package quorum

import (
	"fmt"
	"log/slog"
)

// raftLogger routes the raft package's logging to slog. Raft logs every
// step of every election at Info; that goes to Debug here, and the quorum
// logs leader changes itself. Raft's Panic and Fatal mean a broken
// invariant: both log and then panic, so the process stops with a stack
// trace rather than running on inconsistent state.
type raftLogger struct{ l *slog.Logger }

func (g raftLogger) Debug(v ...any)                 { g.l.Debug(fmt.Sprint(v...)) }
func (g raftLogger) Debugf(format string, v ...any) { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g raftLogger) Info(v ...any)                  { g.l.Debug(fmt.Sprint(v...)) }
func (g raftLogger) Infof(format string, v ...any)  { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g raftLogger) Warning(v ...any)               { g.l.Warn(fmt.Sprint(v...)) }
func (g raftLogger) Warningf(format string, v ...any) {
	g.l.Warn(fmt.Sprintf(format, v...))
}
func (g raftLogger) Error(v ...any)                 { g.l.Error(fmt.Sprint(v...)) }
func (g raftLogger) Errorf(format string, v ...any) { g.l.Error(fmt.Sprintf(format, v...)) }
func (g raftLogger) Fatal(v ...any)                 { g.fail(fmt.Sprint(v...)) }
func (g raftLogger) Fatalf(format string, v ...any) { g.fail(fmt.Sprintf(format, v...)) }
func (g raftLogger) Panic(v ...any)                 { g.fail(fmt.Sprint(v...)) }
func (g raftLogger) Panicf(format string, v ...any) { g.fail(fmt.Sprintf(format, v...)) }

func (g raftLogger) fail(msg string) {
	g.l.Error(msg)
	panic(msg)
}
