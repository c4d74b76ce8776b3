package console

// The node panel of `fjord dev`: the overview lists the local nodes with
// buttons to stop, kill, pause, resume and start them (through
// Options.Nodes), what each holds in the cluster now (leaders, ISR
// membership, the controller role), and what the canary producer
// (nodes_canary.go) saw after each action. GET /api/nodes serves the same
// as JSON.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// nodeActTimeout bounds one panel action: a stop waits for the node's
// controlled shutdown, which may take longer than a page's Kafka calls.
const nodeActTimeout = 30 * time.Second

// nodeActionDef is one of the panel's buttons and what it does.
type nodeActionDef struct {
	Action NodeAction
	Title  string
}

// nodeActions are the panel's buttons, in order.
var nodeActions = []nodeActionDef{
	{ActionStop, "controlled shutdown (SIGTERM): leaders move away first"},
	{ActionKill, "SIGKILL: a crash, no controlled shutdown"},
	{ActionPause, "SIGSTOP: the process stays but answers nothing"},
	{ActionResume, "SIGCONT: a paused node carries on"},
	{ActionStart, "start a stopped or killed node again, on its own data"},
}

// actionFits reports whether a fits a node in state; an unknown state
// lets every action through (Act decides).
func actionFits(state string, a NodeAction) bool {
	switch state {
	case "running":
		return a == ActionStop || a == ActionKill || a == ActionPause
	case "paused":
		return a == ActionKill || a == ActionResume
	case "stopped":
		return a == ActionStart
	}
	return true
}

// nodeButton is one button of a node's row.
type nodeButton struct {
	Action  NodeAction
	Title   string
	Enabled bool
}

// nodeRow is one node on the panel: its process and, from the cluster
// snapshot, what it holds now.
type nodeRow struct {
	ID       int32     `json:"id"`
	State    string    `json:"state"`
	PID      int       `json:"pid"`
	Addr     string    `json:"addr"`
	Since    time.Time `json:"since"`
	LastExit string    `json:"last_exit"`
	// Known says the cluster columns below come from a snapshot.
	Known      bool     `json:"known"`
	Registered bool     `json:"registered"` // in Metadata's brokers
	Controller bool     `json:"controller"` // the active controller
	Leaders    int      `json:"leaders"`
	InISR      int      `json:"in_isr"`
	OutOfISR   []string `json:"out_of_isr"` // topic-partition names

	Buttons []nodeButton `json:"-"`
	Ago     string       `json:"-"` // since, as "3m20s ago"
}

// canaryPartRow is one canary partition on the panel.
type canaryPartRow struct {
	Partition int32
	Leader    int32 // -1 none or unknown
	Replicas  []int32
	ISR       []int32
	Known     bool
	LastAck   string // "0.03 s ago"
	InFlight  int
	Stalled   bool
}

// nodePanel is the panel's data.
type nodePanel struct {
	Nodes  []nodeRow
	Canary canaryView
	Parts  []canaryPartRow
}

// nodePanel builds the panel at now from the node controller, the
// snapshot (nil when the cluster did not answer) and the canary.
func (s *Server) nodePanel(snap *snapshot, now time.Time) *nodePanel {
	p := &nodePanel{Canary: s.canary.view(now, 10, 20)}
	for _, st := range s.opts.Nodes.Nodes() {
		p.Nodes = append(p.Nodes, nodeRowOf(st, snap, now))
	}
	p.Parts = canaryParts(p.Canary, snap, now)
	return p
}

func nodeRowOf(st NodeStatus, snap *snapshot, now time.Time) nodeRow {
	r := nodeRow{ID: st.ID, State: st.State, PID: st.PID, Addr: st.Addr, Since: st.Since, LastExit: st.LastExit}
	if !st.Since.IsZero() {
		r.Ago = now.Sub(st.Since).Round(time.Second).String() + " ago"
	}
	for _, b := range nodeActions {
		r.Buttons = append(r.Buttons, nodeButton{b.Action, b.Title, actionFits(st.State, b.Action)})
	}
	if snap != nil {
		r.addCluster(snap)
	}
	return r
}

// addCluster fills the row's cluster columns from snap.
func (r *nodeRow) addCluster(snap *snapshot) {
	r.Known, r.OutOfISR = true, []string{}
	r.Registered = slices.Contains(snap.meta.Brokers.NodeIDs(), r.ID)
	r.Controller = snap.meta.Controller == r.ID
	snap.meta.Topics.EachPartition(func(p kadm.PartitionDetail) {
		if p.Leader == r.ID {
			r.Leaders++
		}
		switch {
		case slices.Contains(p.ISR, r.ID):
			r.InISR++
		case slices.Contains(p.Replicas, r.ID):
			r.OutOfISR = append(r.OutOfISR, fmt.Sprintf("%s-%d", p.Topic, p.Partition))
		}
	})
	slices.SortFunc(r.OutOfISR, compareTP)
}

// OutOfISRList names the first few partitions the node is out of the ISR of.
func (r nodeRow) OutOfISRList() string { return partitionList(slices.Clone(r.OutOfISR)) }

// canaryParts joins the canary's progress with its topic's partitions in
// snap (leaders, replicas, ISRs): a row for every partition either knows.
func canaryParts(v canaryView, snap *snapshot, now time.Time) []canaryPartRow {
	rows := map[int32]*canaryPartRow{}
	row := func(p int32) *canaryPartRow {
		if rows[p] == nil {
			rows[p] = &canaryPartRow{Partition: p, Leader: -1, LastAck: "never"}
		}
		return rows[p]
	}
	for _, cp := range v.Parts {
		r := row(cp.Partition)
		r.InFlight = cp.InFlight
		if !cp.LastAck.IsZero() {
			r.LastAck = seconds(now.Sub(cp.LastAck)) + " ago"
		}
	}
	for _, w := range v.Open {
		row(w.Partition).Stalled = true
	}
	if snap != nil {
		for p, pd := range snap.meta.Topics[canaryTopic].Partitions {
			r := row(p)
			r.Known, r.Leader, r.Replicas, r.ISR = true, pd.Leader, pd.Replicas, pd.ISR
		}
	}
	out := make([]canaryPartRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b canaryPartRow) int { return int(a.Partition - b.Partition) })
	return out
}

// nodeAction applies the action of the URL to the node of the URL and
// goes back to the overview. Without Options.Nodes it is a 404; an id no
// node has is a 404, an unknown action a 400, and Act's refusal (an
// action that does not fit the node's state) a 409.
func (s *Server) nodeAction(ctx context.Context, r *http.Request) (string, string, error) {
	if s.opts.Nodes == nil {
		return "", "", notFound("no node panel: this console runs beside no local cluster (fjord dev)")
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 32)
	if err != nil || id < 0 {
		return "", "", badRequest("node id %q is not a node id", r.PathValue("id"))
	}
	a := NodeAction(r.PathValue("action"))
	if !slices.ContainsFunc(nodeActions, func(b nodeActionDef) bool { return b.Action == a }) {
		return "", "", badRequest("unknown node action %q (stop, kill, pause, resume or start)", a)
	}
	if !slices.ContainsFunc(s.opts.Nodes.Nodes(), func(n NodeStatus) bool { return n.ID == int32(id) }) {
		return "", "", notFound(fmt.Sprintf("no node %d in this cluster", id))
	}
	return s.act(ctx, int32(id), a)
}

// act calls Act (under its own timeout: a controlled shutdown continues
// if the browser goes away) and records the action for the panel and the
// event feed, stamped when it was asked for.
func (s *Server) act(ctx context.Context, id int32, a NodeAction) (string, string, error) {
	at := time.Now()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), nodeActTimeout)
	defer cancel()
	if err := s.opts.Nodes.Act(actx, id, a); err != nil {
		return "", "", &httpError{http.StatusConflict, "Conflict", err.Error()} // its text is for the user (NodeControl)
	}
	s.canary.action(at, id, a)
	s.events.add(event{At: at, Kind: "node", Text: fmt.Sprintf("%s node %d (from the node panel)", a, id)})
	return "/", fmt.Sprintf("%s node %d: done in %s", a, id, seconds(time.Since(at))), nil
}

// canaryEvent puts a closed window in the event feed.
func (s *Server) canaryEvent(w canaryWindow) {
	s.events.add(event{At: w.End, Kind: "canary", Text: "producers to " + canaryTopic + " " + w.Text()})
}

// nodesJSON serves the panel as JSON: the nodes and the canary's windows
// and actions (404 without Options.Nodes).
func (s *Server) nodesJSON(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if s.opts.Nodes == nil {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "no node panel: this console runs beside no local cluster"})
		return
	}
	snap, err := s.snapshot()
	out := map[string]any{}
	if err != nil {
		out["cluster_error"] = err.Error()
	}
	p := s.nodePanel(snap, time.Now())
	out["nodes"], out["canary"] = p.Nodes, p.Canary
	_ = json.NewEncoder(w).Encode(out)
}
