package console

import (
	"bufio"
	"io"
	"strconv"
	"strings"
)

// promSample is one line of Prometheus text exposition: a metric name,
// its labels and its value.
type promSample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// parsePromText reads the samples of a Prometheus text exposition,
// skipping comments, blank lines and lines it cannot parse (a console
// shows what it can; it does not validate exporters). Timestamps after
// the value are ignored.
func parsePromText(r io.Reader) []promSample {
	var out []promSample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if s, ok := parsePromLine(line); ok {
			out = append(out, s)
		}
	}
	return out
}

// parsePromLine parses `name{a="x",b="y"} value [timestamp]`.
func parsePromLine(line string) (promSample, bool) {
	var s promSample
	rest := line
	if i := strings.IndexAny(rest, "{ "); i < 0 {
		return s, false
	} else {
		s.Name, rest = rest[:i], rest[i:]
	}
	if strings.HasPrefix(rest, "{") {
		end := strings.LastIndexByte(rest, '}')
		if end < 0 {
			return s, false
		}
		s.Labels = parsePromLabels(rest[1:end])
		rest = rest[end+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return s, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, false
	}
	s.Value = v
	return s, s.Name != ""
}

// parsePromLabels parses `a="x",b="y"`, unescaping \\, \" and \n.
func parsePromLabels(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return out
		}
		key := strings.TrimSpace(strings.TrimLeft(s[:eq], ","))
		val, n := unquoteLabel(s[eq+2:])
		out[key] = val
		s = strings.TrimLeft(s[eq+2+n:], ", ")
	}
	return out
}

// unquoteLabel reads a label value up to its closing quote and returns
// the value and the bytes consumed, the quote included.
func unquoteLabel(s string) (string, int) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), i + 1
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] == 'n' {
				b.WriteByte('\n')
			} else {
				b.WriteByte(s[i])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), len(s)
}

// sumMetric adds the values of the samples named name whose labels
// include every pair of match.
func sumMetric(samples []promSample, name string, match map[string]string) (float64, bool) {
	var sum float64
	found := false
	for _, s := range samples {
		if s.Name != name || !labelsMatch(s.Labels, match) {
			continue
		}
		sum += s.Value
		found = true
	}
	return sum, found
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
