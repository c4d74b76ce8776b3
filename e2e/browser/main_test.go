package browser

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/fjordlog/fjord/internal/testbin"
)

// fjordBin is the fjord binary TestMain built; chromiumBin is Debian's
// chromium, or "" when it is not installed.
var fjordBin, chromiumBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			chromiumBin = p
			break
		}
	}
	if chromiumBin == "" {
		// The tests skip; building the node would be wasted.
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "fjord-browser-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "browser:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := testbin.TrackSources(); err != nil {
		fmt.Fprintln(os.Stderr, "browser:", err)
		return 1
	}
	if fjordBin, err = testbin.Build(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "browser: building fjord:", err)
		return 1
	}
	return m.Run()
}
