package console

import (
	"context"
	"time"
)

// NodeControl lets the console stop, kill, pause, resume and start the
// nodes of a local cluster it runs beside (`fjord dev`). It is optional:
// against any other cluster Options.Nodes is nil and no panel is shown.
//
// Implementations are safe for concurrent use: the console calls them
// from HTTP handler goroutines.
type NodeControl interface {
	// Nodes returns every node of the local cluster, ordered by ID.
	Nodes() []NodeStatus
	// Act applies action to node id and returns once the signal is
	// delivered (stop waits for the controlled shutdown to end, at most
	// until ctx ends, then kills). Unknown ids or actions, and actions
	// that do not fit the node's state (resume a running node), return
	// an error whose text is shown to the user.
	Act(ctx context.Context, id int32, action NodeAction) error
}

// NodeAction is what the panel asks of a node.
type NodeAction string

// The actions of the node panel.
const (
	// ActionStop is a controlled shutdown (SIGTERM): leaders move away first.
	ActionStop NodeAction = "stop"
	// ActionKill is SIGKILL: a crash, no controlled shutdown.
	ActionKill NodeAction = "kill"
	// ActionPause is SIGSTOP: the process stays but answers nothing.
	ActionPause NodeAction = "pause"
	// ActionResume is SIGCONT of a paused node.
	ActionResume NodeAction = "resume"
	// ActionStart starts a stopped or killed node again, on its own data.
	ActionStart NodeAction = "start"
)

// NodeStatus is one node as its controller sees it.
type NodeStatus struct {
	ID    int32
	State string // "running", "paused" or "stopped"
	PID   int    // 0 when stopped
	Addr  string // Kafka listener host:port
	Since time.Time
	// LastExit says how the last process ended ("killed", "exit status
	// 1", ...); empty while the first one runs.
	LastExit string
}
