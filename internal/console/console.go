// Package console is Fjord Console: a web UI onto a Kafka-protocol
// cluster, served by net/http from the fjord binary (`fjord console`, and
// `fjord dev` beside its nodes).
//
// It speaks only the Kafka protocol (franz-go's kgo/kadm, kmsg for the
// requests kadm lacks) plus, where given, the Prometheus /metrics
// endpoints of Fjord nodes, so it works against any Kafka cluster. Pages
// are rendered on the server from embedded html/template files; a small
// embedded script refreshes a page's live region by polling the same URL
// for its fragment. The console keeps no state of its own beyond
// short-lived caches: a cluster snapshot reused for about a second, a
// small ring of recent samples for the rate charts, and the last changes
// seen between snapshots (leaders, ISRs, brokers) for the event feed.
// The message browser's live tail streams new records as server-sent
// events (tail.go). On a secured cluster it shows ACLs (acls.go) and SCRAM
// users (users.go), and signs in as the principal of its client settings:
// what that principal may not describe is left out or marked "not
// authorized", never an error page for the whole view (auth.go).
// Beside `fjord dev` (Options.Nodes) it also shows a node panel and runs
// a canary producer into fjord-dev-canary, keeping the panel's recent
// actions and the producers' unavailability windows (nodes*.go).
package console

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Options configure a Server.
type Options struct {
	// ClientOpts are the kgo options of the cluster (seeds, TLS, SASL).
	// The console adds its own client id unless one is given.
	ClientOpts []kgo.Opt
	// MetricsURLs are Prometheus text endpoints (http://host:port/metrics)
	// of the nodes; optional. Without them rates come from end offsets.
	MetricsURLs []string
	// RequestTimeout bounds every Kafka call a page makes (default 5s).
	RequestTimeout time.Duration
	// CacheTTL is how long a cluster snapshot is reused (default 1s).
	CacheTTL time.Duration
	// SampleInterval is the rate sampler's period (default 2s; 0 uses
	// the default, negative disables the sampler).
	SampleInterval time.Duration
	// Logger receives request failures; nil discards them.
	Logger *slog.Logger
	// Nodes, when set (`fjord dev`), lets the overview's node panel stop,
	// kill, pause and start the local nodes; see NodeControl.
	Nodes NodeControl
}

// Server serves the console. Create it with New; it owns a Kafka client
// that Serve closes when its context ends (or Close, if Serve never ran).
type Server struct {
	opts    Options
	cl      *kgo.Client
	adm     *kadm.Client
	pages   *pageSet
	snaps   snapshotCache
	rates   *rateRing
	lags    *lagHistory
	events  *eventLog
	canary  *canary // with Options.Nodes only
	logger  *slog.Logger
	closeMu sync.Once
	// lastView is when a page was last served (Unix ns): the background
	// loop keeps the snapshot fresh for a while after it.
	lastView atomic.Int64
}

// New validates opts and creates the server's Kafka client. It does not
// contact the cluster: pages report an unreachable cluster themselves.
func New(opts Options) (*Server, error) {
	opts = withDefaults(opts)
	// Metadata cached by the client (leaders for ListOffsets and the like)
	// is refreshed after a second, not kgo's default 5 s.
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.ClientID("fjord-console"), kgo.MetadataMinAge(time.Second)}, opts.ClientOpts...)...)
	if err != nil {
		return nil, err
	}
	pages, err := loadPages()
	if err != nil {
		cl.Close()
		return nil, err
	}
	s := &Server{opts: opts, cl: cl, adm: kadm.NewClient(cl), pages: pages,
		rates: newRateRing(150), lags: newLagHistory(64, 60), events: newEventLog(200), logger: opts.Logger}
	s.snaps.ttl = opts.CacheTTL
	if opts.Nodes != nil {
		s.canary = newCanary(opts.Nodes, cl, opts.ClientOpts, s.logger)
		s.canary.onWindow = s.canaryEvent
	}
	return s, nil
}

func withDefaults(o Options) Options {
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 5 * time.Second
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = time.Second
	}
	if o.SampleInterval == 0 {
		o.SampleInterval = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Serve serves HTTP on ln until ctx ends, then shuts the HTTP server down
// (waiting briefly for requests in flight), stops the sampler and the
// canary producer (with Options.Nodes) and closes the Kafka client. It
// returns nil after a shutdown by ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.Close()
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	if s.opts.SampleInterval > 0 {
		wg.Go(func() { s.sample(sctx, s.opts.SampleInterval) })
	}
	if s.canary != nil {
		wg.Go(func() { s.canary.run(sctx) })
	}
	wg.Go(func() {
		<-sctx.Done()
		shctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shctx)
	})
	err := srv.Serve(ln)
	stop()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close closes the Kafka client. Serve calls it on return.
func (s *Server) Close() {
	s.closeMu.Do(s.cl.Close)
}

// Handler returns the console's routes, guarded against cross-origin
// form posts.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.FileServerFS(staticFS()))
	mux.HandleFunc("GET /{$}", s.page(s.overview))
	mux.HandleFunc("GET /api/overview", s.overviewJSON)
	mux.HandleFunc("GET /topics", s.page(s.topics))
	mux.HandleFunc("POST /topics", s.action(s.createTopic))
	mux.HandleFunc("GET /topics/{name}", s.page(s.topic))
	mux.HandleFunc("POST /topics/{name}/delete", s.action(s.deleteTopic))
	mux.HandleFunc("POST /topics/{name}/configs", s.action(s.alterTopicConfig))
	mux.HandleFunc("GET /topics/{name}/messages", s.page(s.messages))
	mux.HandleFunc("GET /groups", s.page(s.groups))
	mux.HandleFunc("GET /groups/{name}", s.page(s.group))
	mux.HandleFunc("POST /groups/{name}/reset", s.action(s.resetGroup))
	mux.HandleFunc("GET /brokers/{id}", s.page(s.broker))
	mux.HandleFunc("POST /nodes/{id}/{action}", s.action(s.nodeAction))
	mux.HandleFunc("GET /api/nodes", s.nodesJSON)
	mux.HandleFunc("GET /topics/{name}/messages/tail", s.tailHandler())
	mux.HandleFunc("GET /acls", s.page(s.acls))
	mux.HandleFunc("POST /acls", s.action(s.createACL))
	mux.HandleFunc("POST /acls/delete", s.action(s.deleteACL))
	mux.HandleFunc("GET /users", s.page(s.users))
	mux.HandleFunc("POST /users", s.action(s.setPassword))
	mux.HandleFunc("POST /users/delete", s.action(s.deleteCredential))
	mux.HandleFunc("/", s.notFound)
	return http.NewCrossOriginProtection().Handler(mux)
}
