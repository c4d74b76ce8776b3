package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/fjordlog/fjord/"

// allowed lists, for each internal package, the internal packages its
// non-test files may import (DESIGN.md §3). A package missing here fails
// the test, so every new package must state its place.
var allowed = map[string][]string{
	"internal/record":      {},
	"internal/config":      {},
	"internal/metadata":    {},
	"internal/server":      {},
	"internal/archtest":    {},
	"internal/sasl":        {},
	"internal/vfs":         {}, // the filesystem interface under storage and quorum: standard library only
	"internal/storage":     {"internal/record", "internal/vfs"},
	"internal/quorum":      {"internal/storage", "internal/vfs"},
	"internal/controller":  {"internal/metadata", "internal/quorum", "internal/config"},
	"internal/partition":   {"internal/storage", "internal/record", "internal/metadata"},
	"internal/replication": {"internal/partition", "internal/record", "internal/metadata"},
	"internal/group":       {"internal/metadata", "internal/record"},
	"internal/txn":         {"internal/metadata", "internal/record"},
	"internal/auth":        {"internal/metadata"},
	"internal/ctlclient":   {"internal/controller", "internal/metadata", "internal/record"},
	"internal/coordinator": {"internal/group", "internal/txn", "internal/partition", "internal/record"},
	"internal/handlers": {"internal/server", "internal/metadata", "internal/config", "internal/partition",
		"internal/controller", "internal/record", "internal/group", "internal/txn", "internal/coordinator", "internal/auth", "internal/sasl"},
	"internal/chaos":     {"internal/tlsconf", "internal/clientsec", "internal/nodeproc"},
	"internal/nodeproc":  {}, // the process harness of fjord dev and chaos: standard library only
	"internal/testbin":   {}, // builds fjord for the process-level test packages: standard library only
	"internal/tlsconf":   {},
	"internal/fakeclock": {},
	"internal/quota":     {},
	"internal/console":   {}, // Kafka protocol and /metrics only: works against any cluster
	"internal/clientsec": {"internal/tlsconf", "internal/sasl"},
	"internal/broker":    {"*"},
	"cmd/fjord":          {"*"},
}

// protocolPackages may use Kafka protocol types (kmsg); everyone else
// works on Fjord's own types (DESIGN.md §3, principle 3).
var protocolPackages = []string{"internal/server", "internal/handlers", "internal/replication", "internal/ctlclient", "internal/group", "internal/txn", "internal/coordinator", "internal/chaos", "internal/console", "cmd/fjord"}

// stdlibOnly packages import nothing outside the standard library.
var stdlibOnly = []string{"internal/nodeproc", "internal/testbin", "internal/vfs"}

func TestImportRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	imports := packageImports(t, root)
	if len(imports) < 5 {
		t.Fatalf("found only %d packages under %s; the walk is broken", len(imports), root)
	}
	for pkg, imps := range imports {
		rule, ok := allowed[pkg]
		if !ok {
			t.Errorf("package %s has no import rule; add it to allowed (DESIGN.md §3)", pkg)
			continue
		}
		for _, imp := range imps {
			checkImport(t, pkg, imp, rule)
		}
	}
}

func checkImport(t *testing.T, pkg, imp string, rule []string) {
	t.Helper()
	if first, _, _ := strings.Cut(imp, "/"); slices.Contains(stdlibOnly, pkg) && strings.Contains(first, ".") {
		t.Errorf("%s imports %s; it may import only the standard library", pkg, imp)
	}
	if strings.HasPrefix(imp, module) {
		dep := strings.TrimPrefix(imp, module)
		if !slices.Contains(rule, "*") && !slices.Contains(rule, dep) {
			t.Errorf("%s imports %s, which DESIGN.md §3 does not allow", pkg, dep)
		}
		return
	}
	if strings.HasPrefix(imp, "github.com/twmb/franz-go/pkg/kmsg") && !slices.Contains(protocolPackages, pkg) {
		t.Errorf("%s imports kmsg; only %v may see protocol types", pkg, protocolPackages)
	}
}

// packageImports maps each package directory (relative to root) to the
// imports of its non-test Go files.
func packageImports(t *testing.T, root string) map[string][]string {
	out := map[string][]string{}
	fset := token.NewFileSet()
	for _, top := range []string{"internal", "cmd"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			if strings.Contains(path, string(filepath.Separator)+"testdata"+string(filepath.Separator)) {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, filepath.Dir(path))
			rel = filepath.ToSlash(rel)
			out[rel] = append(out[rel], importPaths(f.Imports)...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func importPaths(specs []*ast.ImportSpec) []string {
	out := make([]string, 0, len(specs))
	for _, s := range specs {
		p, _ := strconv.Unquote(s.Path.Value)
		out = append(out, p)
	}
	return out
}
