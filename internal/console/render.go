package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

//go:embed web/templates/*.html web/static/*
var webFS embed.FS

func staticFS() fs.FS {
	sub, err := fs.Sub(webFS, "web")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return sub
}

// pageNames are the page templates; each is parsed with layout.html and
// defines "live" (the region the script refreshes) and "forms".
var pageNames = []string{"overview", "topics", "topic", "groups", "group", "broker", "messages", "acls", "users", "error"}

// pageSet holds one template set per page.
type pageSet struct{ sets map[string]*template.Template }

var templateFuncs = template.FuncMap{
	"bytes": humanBytes,
	"rate":  humanRate,
	"ids":   idList,
	"spark": sparkline,
	"ms": func(ms int64) string {
		if ms < 0 {
			return "—"
		}
		return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000")
	},
	"path":  url.PathEscape,
	"query": url.QueryEscape,
	"list4": func(a, b, c, d string) []string { return []string{a, b, c, d} },
}

func loadPages() (*pageSet, error) {
	ps := &pageSet{sets: map[string]*template.Template{}}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(webFS,
			"web/templates/layout.html", "web/templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		ps.sets[name] = t
	}
	return ps, nil
}

// view is what layout.html renders around a page.
type view struct {
	Title    string
	Nav      string // the highlighted menu entry
	Live     bool   // the live region refreshes itself
	Flash    string // a message from the last form post
	Data     any
	Warnings []string
	Footer   string
	// Principal is who the console signs in as ("User:alice"), when
	// its client uses SASL.
	Principal string
}

// pageResult is a page handler's output: the template to render and its data.
type pageResult struct {
	page, title, nav string
	live             bool
	data             any
	warnings         []string
}

// httpError is an error page: a status, a title and an explanation.
type httpError struct {
	status int
	title  string
	msg    string
}

func (e *httpError) Error() string { return e.title + ": " + e.msg }

func badRequest(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, "Bad request", fmt.Sprintf(format, args...)}
}

func notFound(what string) error {
	return &httpError{http.StatusNotFound, "Not found", what}
}

// kafkaError turns a Kafka call's failure into an error page: the
// request's own errors by their meaning, a timeout as 504, the rest 502.
func kafkaError(what string, err error) error {
	var he *httpError
	if errors.As(err, &he) {
		return err
	}
	status := http.StatusBadGateway
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		status = http.StatusGatewayTimeout
	case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.GroupIDNotFound):
		status = http.StatusNotFound
	case errors.Is(err, kerr.TopicAlreadyExists), errors.Is(err, kerr.NonEmptyGroup),
		errors.Is(err, kerr.UnknownMemberID), errors.Is(err, kerr.RebalanceInProgress):
		status = http.StatusConflict
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed),
		errors.Is(err, kerr.ClusterAuthorizationFailed):
		status = http.StatusForbidden
	case isInvalidInput(err):
		status = http.StatusBadRequest
	}
	return &httpError{status, http.StatusText(status), what + ": " + err.Error()}
}

func isInvalidInput(err error) bool {
	for _, e := range []error{kerr.InvalidTopicException, kerr.InvalidPartitions, kerr.InvalidReplicationFactor,
		kerr.InvalidConfig, kerr.InvalidRequest, kerr.InvalidReplicaAssignment, kerr.PolicyViolation,
		kerr.UnacceptableCredential} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// page wraps a page handler: it bounds the request by the Kafka timeout,
// renders the page (or, with ?fragment=1, only its live region) into a
// buffer, and writes it with a Server-Timing header; a failure renders
// the error page with the error's status.
func (s *Server) page(fn func(context.Context, *http.Request) (pageResult, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		s.lastView.Store(t0.UnixNano())
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
		defer cancel()
		res, err := fn(ctx, r)
		if err != nil {
			s.fail(w, r, t0, err)
			return
		}
		s.render(w, r, t0, http.StatusOK, res)
	}
}

// render executes res's page into a buffer and writes it with status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, t0 time.Time, status int, res pageResult) {
	v := view{Title: res.title, Nav: res.nav, Live: res.live, Data: res.data, Warnings: res.warnings,
		Flash: r.URL.Query().Get("ok"), Principal: s.principal()}
	tmpl, name := s.pages.sets[res.page], "layout"
	if r.URL.Query().Get("fragment") == "1" {
		name = "live"
	}
	var buf bytes.Buffer
	v.Footer = fmt.Sprintf("rendered in %d ms at %s", time.Since(t0).Milliseconds(), time.Now().UTC().Format("15:04:05"))
	var data any = v
	if name == "live" {
		data = res.data
	}
	if err := tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		s.logger.Error("console: rendering", "page", res.page, "err", err)
		http.Error(w, "rendering failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Server-Timing", fmt.Sprintf("app;dur=%.1f", float64(time.Since(t0).Microseconds())/1000))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders err as the error page with its status.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, t0 time.Time, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = kafkaError("cluster", err).(*httpError)
	}
	if he.status >= 500 {
		s.logger.Warn("console: page failed", "path", r.URL.Path, "err", err)
	}
	s.render(w, r, t0, he.status, pageResult{page: "error", title: he.title, data: he})
}

// notFound answers any URL no route matches.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.fail(w, r, time.Now(), notFound("no console page at "+r.URL.Path))
}

// action wraps a form handler: on success it redirects (303) to the URL
// fn returns with its message in ?ok=; a failure renders the error page.
func (s *Server) action(fn func(context.Context, *http.Request) (string, string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		ctx, cancel := context.WithTimeout(r.Context(), s.opts.RequestTimeout)
		defer cancel()
		to, msg, err := fn(ctx, r)
		if err != nil {
			s.fail(w, r, t0, err)
			return
		}
		s.snaps.invalidate()
		sep := "?"
		if strings.Contains(to, "?") {
			sep = "&"
		}
		http.Redirect(w, r, to+sep+"ok="+url.QueryEscape(msg), http.StatusSeeOther)
	}
}

// Title and message accessors for error.html.
func (e *httpError) Title() string   { return e.title }
func (e *httpError) Message() string { return e.msg }
func (e *httpError) Status() int     { return e.status }
