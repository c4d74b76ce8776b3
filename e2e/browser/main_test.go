package browser

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
	if err := trackSources(); err != nil {
		fmt.Fprintln(os.Stderr, "browser:", err)
		return 1
	}
	if fjordBin, err = buildFjord(tmp); err != nil {
		fmt.Fprintln(os.Stderr, "browser: building fjord:", err)
		return 1
	}
	return m.Run()
}

// buildFjord builds ./cmd/fjord of the enclosing module into dir, or
// returns $FJORD_E2E_BIN when set.
func buildFjord(dir string) (string, error) {
	if bin := os.Getenv("FJORD_E2E_BIN"); bin != "" {
		return filepath.Abs(bin)
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "fjord")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/fjord")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v\n%s", err, out)
	}
	return bin, nil
}

// trackSources opens every Go source file of the module (and go.mod,
// go.sum) so that the go command's test cache, which keys a result on the
// files a test opened, notices a change to the node or the console: this
// package imports neither.
func trackSources() error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, ".html") &&
			!strings.HasSuffix(name, ".js") && !strings.HasSuffix(name, ".css") &&
			name != "go.mod" && name != "go.sum" {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		return f.Close()
	})
}

// moduleRoot walks up from the working directory to the go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
