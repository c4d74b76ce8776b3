package main

// The nodes of `fjord dev`: each a `fjord server` child process of this
// binary run through nodeproc, and together the console's NodeControl,
// with which the node panel stops, kills, pauses, resumes and starts
// them so that a newcomer can watch a failover happen.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fjordlog/fjord/internal/console"
	"github.com/fjordlog/fjord/internal/nodeproc"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// devReadyTimeout bounds the wait for every node of a start to
	// answer with the whole cluster.
	devReadyTimeout = 30 * time.Second
	// devStopTimeout bounds the controlled shutdowns at Ctrl-C; the nodes
	// left are killed.
	devStopTimeout = 15 * time.Second
	// devTailLines is how much of a failed node's log an error shows.
	devTailLines = 30
)

// devNode is one node of the dev cluster.
type devNode struct {
	id   int32
	addr string // Kafka listener host:port
	proc *nodeproc.Proc
}

// devNodes is the nodes of the dev cluster, ordered by id. It implements
// console.NodeControl; its methods are safe for concurrent use.
type devNodes struct {
	nodes []*devNode
}

var _ console.NodeControl = (*devNodes)(nil)

// newDevNodes prepares (does not start) the nodes: bin `server` with each
// node's properties. The nodes run in process groups of their own (a
// terminal's Ctrl-C reaches dev alone, which stops them in order) and die
// with dev, even SIGKILLed (nodeproc's DieWithParent, a Linux
// parent-death signal; nodeproc forks from a goroutine locked to its OS
// thread for the child's life, since the signal follows the forking
// thread, not the process).
func newDevNodes(bin string, o devOpts, sec *devSecurity) (*devNodes, error) {
	d := &devNodes{}
	stderr := &sync.Mutex{} // one line at a time from every node
	for id := 1; id <= o.nodes; id++ {
		args, err := devServerArgs(o, sec, id)
		if err != nil {
			return nil, err
		}
		proc := nodeproc.New(nodeproc.Config{
			Name: fmt.Sprintf("node %d", id), Bin: bin, Args: args,
			LogDir:   filepath.Join(o.dataDir, "logs", fmt.Sprintf("node-%d", id)),
			Output:   &linePrefixer{prefix: fmt.Sprintf("node %d: ", id), mu: stderr, w: os.Stderr},
			NewGroup: true, DieWithParent: true,
		})
		d.nodes = append(d.nodes, &devNode{id: int32(id), addr: fmt.Sprintf("127.0.0.1:%d", o.port+id-1), proc: proc})
	}
	return d, nil
}

// devServerArgs returns node id's `fjord server` arguments: its
// properties as --override flags, sorted, except the JAAS configs of a
// secure cluster, which hold the broker password and so go to a file
// readable by the owner alone (<data dir>/tls/node-N.properties, --config)
// rather than onto a command line every local user can read.
func devServerArgs(o devOpts, sec *devSecurity, id int) ([]string, error) {
	props := devProps(o.dataDir, o.port, o.nodes, id)
	args := []string{"server", "--log-level", o.logLevel}
	if sec != nil {
		sec.secureProps(props, o.port, id)
		var secret strings.Builder
		for _, k := range slices.Sorted(maps.Keys(props)) {
			if strings.HasSuffix(k, ".jaas.config") {
				secret.WriteString(k + "=" + props[k] + "\n")
				delete(props, k)
			}
		}
		path := filepath.Join(o.dataDir, "tls", fmt.Sprintf("node-%d.properties", id))
		if err := writeSecretFile(path, secret.String()); err != nil {
			return nil, err
		}
		args = append(args, "--config", path)
	}
	for _, k := range slices.Sorted(maps.Keys(props)) {
		args = append(args, "--override", k+"="+props[k])
	}
	return args, nil
}

// startAll starts every node and waits until each answers with all of
// them (at most devReadyTimeout, or until ctx ends). A node that exits
// meanwhile fails it with the tail of its log.
func (d *devNodes) startAll(ctx context.Context, sec *devSecurity) error {
	for _, nd := range d.nodes {
		if err := nd.proc.Start(); err != nil {
			return err
		}
	}
	var opts []kgo.Opt
	if sec != nil {
		var err error
		if opts, err = sec.brokerClientOpts(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, devReadyTimeout)
	defer cancel()
	return d.waitReady(ctx, opts)
}

// waitReady polls every node until each one's Metadata lists every node as
// an unfenced broker, or ctx ends, or a node exits.
func (d *devNodes) waitReady(ctx context.Context, opts []kgo.Opt) error {
	clients := make([]*kgo.Client, len(d.nodes))
	for i, nd := range d.nodes {
		cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.SeedBrokers(nd.addr), kgo.DialTimeout(time.Second))...)
		if err != nil {
			return err
		}
		defer cl.Close()
		clients[i] = cl
	}
	for {
		missing, err := d.notReady(ctx, clients)
		if missing == nil || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("the cluster did not come up within %v: node %d: %v", devReadyTimeout, missing.id, missing.err)
			}
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// devNotReady is a node not ready yet, and why.
type devNotReady struct {
	id  int32
	err error
}

// notReady returns the first node that is not ready, or nil; an error if
// a node has exited.
func (d *devNodes) notReady(ctx context.Context, clients []*kgo.Client) (*devNotReady, error) {
	for i, nd := range d.nodes {
		if st := nd.proc.Status(); st.State == nodeproc.Stopped {
			return nil, fmt.Errorf("node %d exited while starting (%s); the end of its log %s:\n%s",
				nd.id, st.LastExit, nd.proc.LogPath(st.Run), nd.proc.Tail(devTailLines))
		}
		if err := brokersUp(ctx, clients[i], len(d.nodes)); err != nil {
			return &devNotReady{nd.id, err}, nil
		}
	}
	return nil, nil
}

// brokersUp asks cl's one seed broker for Metadata and checks that it
// lists n brokers (Metadata lists only the unfenced ones).
func brokersUp(ctx context.Context, cl *kgo.Client, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // none, not all
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return err
	}
	if got := len(resp.(*kmsg.MetadataResponse).Brokers); got != n {
		return fmt.Errorf("%d of %d brokers up", got, n)
	}
	return nil
}

// stopAll stops the nodes: controlled shutdowns (SIGTERM) all at once
// while the quorum is still whole, each killed if it has not exited
// within timeout. No node starts again afterwards.
func (d *devNodes) stopAll(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, nd := range d.nodes {
		nd.proc.Close()
		wg.Go(func() { _ = nd.proc.Stop(ctx) })
	}
	wg.Wait()
}

// Nodes returns every node's state (console.NodeControl).
func (d *devNodes) Nodes() []console.NodeStatus {
	out := make([]console.NodeStatus, 0, len(d.nodes))
	for _, nd := range d.nodes {
		st := nd.proc.Status()
		out = append(out, console.NodeStatus{ID: nd.id, State: st.State.String(), PID: st.PID,
			Addr: nd.addr, Since: st.Since, LastExit: st.LastExit})
	}
	return out
}

// Act applies action to node id (console.NodeControl): stop is SIGTERM
// and a wait for the exit until ctx ends, then SIGKILL; kill is SIGKILL
// and a wait for the exit; pause SIGSTOP; resume SIGCONT; start a new
// process on the node's data. An action that does not fit the node's
// state is an error (nodeproc.StateError), as is a start once dev is
// stopping.
func (d *devNodes) Act(ctx context.Context, id int32, action console.NodeAction) error {
	if id < 1 || int(id) > len(d.nodes) {
		return fmt.Errorf("no node %d: the nodes are 1 to %d", id, len(d.nodes))
	}
	p := d.nodes[id-1].proc
	switch action {
	case console.ActionStop:
		return p.Stop(ctx)
	case console.ActionKill:
		return p.Kill()
	case console.ActionPause:
		return p.Pause()
	case console.ActionResume:
		return p.Resume()
	case console.ActionStart:
		err := p.Start()
		if errors.Is(err, nodeproc.ErrClosed) {
			err = fmt.Errorf("cannot start node %d: fjord dev is stopping", id)
		}
		return err
	}
	return fmt.Errorf("unknown action %q: stop, kill, pause, resume or start", action)
}

// linePrefixer writes whole lines to w, each after prefix, holding back a
// line's start until its end arrives. mu, shared by the nodes, keeps
// their lines apart. Write is called by one goroutine at a time (the
// output copier of a node's current run).
type linePrefixer struct {
	prefix  string
	mu      *sync.Mutex
	w       io.Writer
	partial []byte
}

// maxPartial bounds a held-back line: longer ones are cut.
const maxPartial = 64 << 10

func (l *linePrefixer) Write(b []byte) (int, error) {
	l.partial = append(l.partial, b...)
	var out []byte
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 && len(l.partial) > maxPartial {
			l.partial, i = append(l.partial, '\n'), len(l.partial)
		}
		if i < 0 {
			break
		}
		out = append(append(out, l.prefix...), l.partial[:i+1]...)
		l.partial = l.partial[i+1:]
	}
	l.partial = bytes.Clone(l.partial) // let the written lines go
	if len(out) > 0 {
		l.mu.Lock()
		defer l.mu.Unlock()
		_, _ = l.w.Write(out)
	}
	return len(b), nil
}
