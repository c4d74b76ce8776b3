package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Time bounds of the browser actions: every action runs under a context
// deadline, so a broken page fails the test in seconds, never hangs it.
const (
	// dataBound is the acceptance bound: a page's data is on screen
	// within a second of the navigation. It is reported, not asserted
	// (timing targets do not belong in tests on a shared machine): the
	// test logs every figure and the worst one, and flags loads over it.
	dataBound = time.Second
	// actionTimeout bounds one navigation, click or keystroke sequence.
	actionTimeout = 15 * time.Second
	// settleTimeout bounds waiting for a page to show what a check
	// wants once the data is known to be right (a form's result, the
	// next live refresh).
	settleTimeout = 8 * time.Second
)

// tab is one Chromium tab onto the console.
type tab struct {
	ctx   context.Context // the chromedp tab context
	base  string
	shots string // screenshot directory
	nshot int

	mu    sync.Mutex
	loads []loadTime
}

// loadTime is one measured time from navigation (or a form's submit) to
// the page's data on screen.
type loadTime struct {
	what string
	d    time.Duration
}

// newTab starts headless Chromium with its own profile in a temporary
// directory and opens a tab 1280 px wide. Both end with the test.
func newTab(t *testing.T, base, shots string) *tab {
	t.Helper()
	if chromiumBin == "" {
		t.Skip(errNoChromium)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumBin),
		chromedp.NoSandbox, // CI runs as root
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-gpu", true),
	)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel() // waits for the browser to exit
	})
	tb := &tab{ctx: ctx, base: base, shots: shots}
	// Start the browser now, so that the first page's time to data does
	// not include Chromium's start. The first run must use the tab's own
	// context (the browser lives as long as the context of the run that
	// started it), so its bound cancels the tab.
	watchdog := time.AfterFunc(actionTimeout, cancel)
	err := chromedp.Do(ctx, chromedp.Navigate("about:blank"))
	if !watchdog.Stop() {
		err = fmt.Errorf("not started within %v (%v)", actionTimeout, err)
	}
	if err != nil {
		t.Fatalf("starting chromium (%s): %v", chromiumBin, err)
	}
	return tb
}

// do runs steps under actionTimeout.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// want is a condition on the page: on the rendered text (innerText:
// what is visible) of the first element matching the CSS selector sel,
// nil when none matches; or, with attr set (inAttr), on that attribute
// of the element, nil when it has none.
type want struct {
	sel  string
	attr string
	desc string
	ok   func(text *string) bool
}

// inAttr makes w a condition on sel's attribute attr instead of its text.
func (w want) inAttr(attr string) want {
	w.attr = attr
	return w
}

// has wants sel's text to contain text.
func has(sel, text string) want {
	return want{sel: sel, desc: fmt.Sprintf("containing %q", text), ok: func(s *string) bool { return s != nil && strings.Contains(*s, text) }}
}

// is wants sel's text, trimmed, to be text.
func is(sel, text string) want {
	return want{sel: sel, desc: fmt.Sprintf("reading %q", text), ok: func(s *string) bool { return s != nil && strings.TrimSpace(*s) == text }}
}

// isNot wants sel to exist with a text, trimmed, other than text.
func isNot(sel, text string) want {
	return want{sel: sel, desc: fmt.Sprintf("reading other than %q", text), ok: func(s *string) bool { return s != nil && strings.TrimSpace(*s) != text }}
}

// gone wants no element to match sel.
func gone(sel string) want {
	return want{sel: sel, desc: "absent", ok: func(s *string) bool { return s == nil }}
}

// present wants an element to match sel.
func present(sel string) want {
	return want{sel: sel, desc: "present", ok: func(s *string) bool { return s != nil }}
}

// sameIDs wants sel's text to list the broker ids ids ("1, 2, 3"), in
// any order.
func sameIDs(sel string, ids []int32) want {
	sorted := slices.Sorted(slices.Values(ids))
	return want{sel: sel, desc: fmt.Sprintf("listing %v", sorted), ok: func(s *string) bool {
		if s == nil {
			return false
		}
		var got []int32
		for f := range strings.SplitSeq(*s, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
			if err != nil {
				return false
			}
			got = append(got, int32(n))
		}
		slices.Sort(got)
		return slices.Equal(got, sorted)
	}}
}

// texts returns what each want is on: the innerText of the first
// element matching its selector, or that element's attribute w.attr;
// nil for a selector that matches nothing or an attribute it lacks.
func (tb *tab) texts(wants []want) ([]*string, error) {
	type query struct {
		Sel  string `json:"s"`
		Attr string `json:"a"`
	}
	qs := make([]query, len(wants))
	for i, w := range wants {
		qs[i] = query{w.sel, w.attr}
	}
	js, err := json.Marshal(qs)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[[]*string](fmt.Sprintf(
		`%s.map(q => { const e = document.querySelector(q.s); return e === null ? null : q.a ? e.getAttribute(q.a) : e.innerText; })`, js)))
}

// unmet returns "" when every want holds, else the first that does not
// and what the page shows instead.
func (tb *tab) unmet(wants []want) string {
	got, err := tb.texts(wants)
	if err != nil {
		return err.Error() // a navigation in flight: try again
	}
	for i, w := range wants {
		what := w.sel
		if w.attr != "" {
			what += " [" + w.attr + "]"
		}
		switch {
		case w.ok(got[i]):
		case got[i] == nil:
			return fmt.Sprintf("want %s %s, the page has no %s", what, w.desc, what)
		default:
			return fmt.Sprintf("want %s %s, it reads %q", what, w.desc, clip(*got[i]))
		}
	}
	return ""
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// await polls the page every 20 ms until every want holds, and fails the
// test after timeout with what the page shows.
func (tb *tab) await(t *testing.T, timeout time.Duration, what string, wants ...want) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := tb.unmet(wants)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %s", timeout, what, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// open navigates to path and waits until every want holds; it records
// and returns the time from the start of the navigation. A load over
// dataBound is measured once more, so that one stall of this shared
// machine is not taken for a slow page; both figures are logged.
func (tb *tab) open(t *testing.T, path string, wants ...want) time.Duration {
	t.Helper()
	d := tb.load(t, path, wants)
	if d > dataBound {
		t.Logf("%s: data on screen after %v, over %v: loading it again", path, d.Round(time.Millisecond), dataBound)
		d = tb.load(t, path, wants)
		if d > dataBound {
			t.Logf("%s: data on screen after %v, OVER the %v acceptance bound", path, d.Round(time.Millisecond), dataBound)
		}
	}
	tb.record(path, d)
	t.Logf("%s: data on screen %v after navigation", path, d.Round(time.Millisecond))
	return d
}

func (tb *tab) load(t *testing.T, path string, wants []want) time.Duration {
	t.Helper()
	start := time.Now()
	if err := tb.do(chromedp.Navigate(tb.base + path)); err != nil {
		t.Fatalf("navigating to %s: %v", path, err)
	}
	tb.await(t, settleTimeout, path+" to show its data", wants...)
	return time.Since(start)
}

// nav navigates to path without measuring (the page was measured
// before; the test is about to act on it).
func (tb *tab) nav(t *testing.T, path string) {
	t.Helper()
	if err := tb.do(chromedp.Navigate(tb.base + path)); err != nil {
		t.Fatalf("navigating to %s: %v", path, err)
	}
}

func (tb *tab) record(what string, d time.Duration) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.loads = append(tb.loads, loadTime{what, d})
}

// field is one form field to fill: by typing into an input (after
// clearing it), or by choosing a select's option.
type field struct {
	name, value string
	choose      bool
}

func typeIn(name, value string) field { return field{name: name, value: value} }
func choose(name, value string) field { return field{name: name, value: value, choose: true} }

// submit fills the fields of the form with id form, clicks its submit
// button, and waits for the page the browser lands on; it returns that
// page's HTTP status (after redirects) and when the click was sent.
func (tb *tab) submit(t *testing.T, form string, fields ...field) (int64, time.Time) {
	t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for _, f := range fields {
		css := fmt.Sprintf("#%s [name=%q]", form, f.name)
		sel := chromedp.CSS(css)
		if f.choose {
			steps = append(steps, chromedp.SetValue(sel, f.value))
			continue
		}
		// Empty the field (a page may have filled it in), then type.
		js, _ := json.Marshal(css)
		steps = append(steps, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).value = ""`, js)))
		if f.value != "" {
			steps = append(steps, chromedp.SendKeys(sel, f.value))
		}
	}
	if err := tb.do(steps...); err != nil {
		t.Fatalf("filling #%s: %v", form, err)
	}
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	clicked := time.Now()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(fmt.Sprintf("#%s button[type=submit]", form))))
	if err != nil {
		t.Fatalf("submitting #%s: %v", form, err)
	}
	return resp.Status, clicked
}

// press clicks the button matching the CSS selector sel (a form's
// submit button) and waits for the page the browser lands on; it returns
// that page's HTTP status (after redirects) and when the click was sent.
func (tb *tab) press(t *testing.T, sel string) (int64, time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	clicked := time.Now()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("clicking %s: %v", sel, err)
	}
	return resp.Status, clicked
}

// act fills and submits form and waits until every want holds; it
// records and logs the time from the click (after the typing) to the
// result on screen (reported against dataBound too).
func (tb *tab) act(t *testing.T, what, form string, wantStatus int64, fields []field, wants ...want) {
	t.Helper()
	got, start := tb.submit(t, form, fields...)
	if got != wantStatus {
		t.Errorf("%s: the page after submitting #%s has status %d, want %d", what, form, got, wantStatus)
	}
	tb.await(t, settleTimeout, what, wants...)
	d := time.Since(start)
	tb.record(what, d)
	t.Logf("%s: result on screen %v after the click", what, d.Round(time.Millisecond))
	if d > dataBound {
		t.Logf("%s: result on screen after %v, OVER the %v acceptance bound", what, d.Round(time.Millisecond), dataBound)
	}
}

// count returns how many elements match the CSS selector sel.
func (tb *tab) count(t *testing.T, sel string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	js, _ := json.Marshal(sel)
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%s).length`, js)))
	if err != nil {
		t.Fatalf("counting %s: %v", sel, err)
	}
	return n
}

// eval runs a JavaScript expression and returns its value.
func eval[T any](t *testing.T, tb *tab, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// shot saves a PNG screenshot of the whole page as NN-name.png and
// returns its path.
func (tb *tab) shot(t *testing.T, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot of %s: %v", name, err)
		return ""
	}
	tb.mu.Lock()
	tb.nshot++
	path := filepath.Join(tb.shots, fmt.Sprintf("%02d-%s.png", tb.nshot, name))
	tb.mu.Unlock()
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("saving %s: %v", path, err)
	}
	return path
}

// summary logs every recorded time to data.
func (tb *tab) summary(t *testing.T) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	var b strings.Builder
	var worst time.Duration
	for _, l := range tb.loads {
		fmt.Fprintf(&b, "\n  %-58s %6d ms", l.what, l.d.Milliseconds())
		worst = max(worst, l.d)
	}
	t.Logf("time from navigation or click to the page's data on screen (bound %v; worst %d ms):%s",
		dataBound, worst.Milliseconds(), b.String())
}
