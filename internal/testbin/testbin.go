// Package testbin builds the fjord binary for the test packages that run
// it as processes (e2e, e2e/browser), once per test binary, and makes the
// go command's test cache depend on the module's sources: those packages
// import none of the node's code, so without it a change to the node
// would not invalidate their cached results. It is used only by tests.
package testbin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build builds ./cmd/fjord of the enclosing module into dir and returns
// its path; with FJORD_E2E_BIN set it returns that binary instead, and
// with FJORD_E2E_RACE=1 it builds with the race detector. The go command
// puts its own GOROOT/bin first in the PATH of the tests it runs, so "go"
// is the toolchain running the test.
func Build(dir string) (string, error) {
	if bin := os.Getenv("FJORD_E2E_BIN"); bin != "" {
		return filepath.Abs(bin)
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "fjord")
	args := []string{"build", "-o", bin}
	if os.Getenv("FJORD_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/fjord")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v\n%s", err, out)
	}
	return bin, nil
}

// TrackSources opens every Go source file of the module (and go.mod,
// go.sum): the go command keys a cached test result on the files the test
// opened.
func TrackSources() error {
	root, err := ModuleRoot()
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
		if !strings.HasSuffix(name, ".go") && name != "go.mod" && name != "go.sum" {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		return f.Close()
	})
}

// ModuleRoot walks up from the working directory to the go.mod.
func ModuleRoot() (string, error) {
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
