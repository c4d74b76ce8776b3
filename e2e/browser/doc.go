// Package browser is Fjord Console's browser test: headless Chromium
// (Debian's chromium package; the test skips without it), driven through
// the DevTools protocol by chromedp, against `fjord console` and a real
// 3-node cluster started with the process harness of internal/chaos.
//
// TestConsoleInBrowser loads every page by its URL and checks that the
// page's data (broker states, topic names, partition leaders and ISRs as
// Metadata reports them, group members and lag) is on screen within a
// second of the navigation; it acts through the pages' own forms by
// typing and clicking (create a topic, change a config, browse messages,
// reset a group, delete a topic), kills a node and watches the overview's
// live region report it without a reload, and saves a PNG screenshot of
// every page it visits.
//
// TestDevPanel runs `fjord dev` with its console and uses the node panel
// in the browser: it kills a node, starts it again, pauses and resumes
// another, and checks, without a reload, the node's state, its leaders
// moving away and back, the ISRs shrinking and recovering, and the
// producers' unavailability windows the console's canary measured
// (docs/console-dev.png is its screenshot after the pause).
//
// Environment: FJORD_SCREENSHOTS=dir keeps the screenshots there (else a
// temporary directory, logged); FJORD_SCREENSHOT_HOLD=40s waits that long
// before the last overview screenshot, so that its rate charts have some
// history (docs/console.png is that screenshot); FJORD_E2E_BIN=path runs
// a prebuilt fjord binary instead of building one.
//
// It is a package of its own so that its run time does not add to the
// e2e package's; everything but this comment is in _test.go files.
package browser
