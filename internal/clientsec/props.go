package clientsec

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// maxLine bounds one physical line of a properties file (a sasl.jaas.config
// or an inline PEM certificate chain can be long).
const maxLine = 1 << 20

// Load reads a Java-style properties file, as kafka-topics --command-config
// or librdkafka's -F take: see Parse for the format.
func Load(path string) (Props, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Parse reads properties in java.util.Properties' text format: one
// key=value, key: value or "key value" per line; blank lines and lines
// starting with # or ! are skipped; a line ending in an odd number of
// backslashes continues on the next one (whose leading blanks are dropped);
// \t, \n, \r, \f, \uXXXX and \<any other char> are unescaped in keys and
// values. A key given twice keeps its last value, as in Java.
func Parse(r io.Reader) (Props, error) {
	lines, err := logicalLines(r)
	if err != nil {
		return nil, err
	}
	p := make(Props, len(lines))
	for _, l := range lines {
		k, v, err := splitProperty(l.text)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", l.num, err)
		}
		p[k] = v
	}
	return p, nil
}

// logicalLine is one property, its continuations joined, and the number of
// the physical line it starts on.
type logicalLine struct {
	num  int
	text string
}

// logicalLines returns the non-comment, non-blank logical lines of r with
// their leading blanks removed.
func logicalLines(r io.Reader) ([]logicalLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	var (
		out  []logicalLine
		cur  strings.Builder
		num  int
		cont bool
	)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if !cont {
			if line == "" || line[0] == '#' || line[0] == '!' {
				continue
			}
			num = n
		}
		cont = oddTrailingBackslashes(line)
		if cont {
			line = line[:len(line)-1]
		}
		cur.WriteString(line)
		if !cont {
			out = append(out, logicalLine{num, cur.String()})
			cur.Reset()
		}
	}
	if cont {
		out = append(out, logicalLine{num, cur.String()})
	}
	return out, sc.Err()
}

// oddTrailingBackslashes reports whether s ends in an unescaped backslash.
func oddTrailingBackslashes(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitProperty splits a logical line at the first unescaped '=', ':' or
// blank (blanks around the separator are dropped) and unescapes both parts.
func splitProperty(line string) (string, string, error) {
	end := keyEnd(line)
	rest := strings.TrimLeft(line[end:], " \t\f")
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = strings.TrimLeft(rest[1:], " \t\f")
	}
	k, err := unescape(line[:end])
	if err != nil {
		return "", "", err
	}
	v, err := unescape(rest)
	if err != nil {
		return "", "", fmt.Errorf("property %s: %w", k, err)
	}
	return k, v, nil
}

// keyEnd returns the index of the first unescaped separator of line, or
// len(line).
func keyEnd(line string) int {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			i++
		case '=', ':', ' ', '\t', '\f':
			return i
		}
	}
	return len(line)
}

// unescape resolves Java properties escapes.
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i == len(s)-1 {
			b.WriteByte(s[i])
			continue
		}
		i++
		n, err := writeEscape(&b, s[i:])
		if err != nil {
			return "", err
		}
		i += n
	}
	return b.String(), nil
}

// writeEscape writes the character of the escape that starts at s (just
// after its backslash) and returns how many more bytes than one it took.
func writeEscape(b *strings.Builder, s string) (int, error) {
	switch s[0] {
	case 't':
		b.WriteByte('\t')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 'f':
		b.WriteByte('\f')
	case 'u':
		if len(s) < 5 {
			return 0, fmt.Errorf("malformed \\u escape %q", `\`+s)
		}
		r, err := strconv.ParseUint(s[1:5], 16, 16)
		if err != nil {
			return 0, fmt.Errorf("malformed \\u escape %q", `\`+s[:5])
		}
		b.WriteRune(rune(r))
		return 4, nil
	default:
		b.WriteByte(s[0])
	}
	return 0, nil
}
