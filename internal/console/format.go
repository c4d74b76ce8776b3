package console

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// humanBytes formats n bytes with a binary unit: 0 B, 1.5 KiB, 3.0 GiB.
func humanBytes(n int64) string {
	if n < 0 {
		return "?"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// humanRate formats a per-second rate with at most one decimal.
func humanRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	}
	return fmt.Sprintf("%.1f", v)
}

// idList formats broker ids as "1, 2, 3" ("—" when empty).
func idList(ids []int32) string {
	if len(ids) == 0 {
		return "—"
	}
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(int(id))
	}
	return strings.Join(parts, ", ")
}

// partitionLag is a group's lag on one partition: how many records
// between its committed offset and the end offset (the high watermark).
// Without a commit (committed < 0) the group would start from the log
// start (auto.offset.reset=earliest is the conservative reading), so the
// lag counts from there. A commit below the log start counts from the log
// start too (those records are gone); a commit past the end is 0. Unknown
// end offsets (< 0) give -1.
func partitionLag(committed, start, end int64) int64 {
	if end < 0 {
		return -1
	}
	from := committed
	if from < 0 || (start >= 0 && from < start) {
		from = max(start, 0)
	}
	return max(0, end-from)
}

// payloadView is a key or value rendered for the message browser.
type payloadView struct {
	Text   string // the rendering
	Format string // "null", "empty", "json", "text" or "hex"
	Size   int64  // bytes of the original
	Cut    bool   // the rendering shows only the first maxShown bytes
}

// maxShown bounds how much of one payload the browser renders.
const maxShown = 64 << 10

// renderPayload renders b as pretty JSON when it parses as a JSON object
// or array, as text when it is valid UTF-8 without control characters
// (tabs and newlines allowed), else as a hex dump; mode "hex" or "text"
// forces a form (text replaces invalid bytes). Payloads larger than
// maxShown are cut, and the cut is marked.
func renderPayload(b []byte, isNull bool, mode string) payloadView {
	v := payloadView{Size: int64(len(b))}
	switch {
	case isNull:
		v.Format = "null"
		return v
	case len(b) == 0:
		v.Format = "empty"
		return v
	}
	shown := b
	if len(shown) > maxShown {
		shown, v.Cut = shown[:maxShown], true
	}
	switch {
	case mode == "hex":
		v.Format, v.Text = "hex", hex.Dump(shown)
	case mode != "text" && !v.Cut && looksJSON(b):
		v.Format, v.Text = "json", prettyJSON(b)
	case mode == "text" || isPrintable(shown):
		v.Format, v.Text = "text", strings.ToValidUTF8(string(shown), "\uFFFD")
	default:
		v.Format, v.Text = "hex", hex.Dump(shown)
	}
	return v
}

func looksJSON(b []byte) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 1 && (t[0] == '{' || t[0] == '[') && json.Valid(t)
}

func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if err := json.Indent(&out, bytes.TrimSpace(b), "", "  "); err != nil {
		return string(b)
	}
	return out.String()
}

// isPrintable reports whether b is UTF-8 text without control characters
// other than tab, newline and carriage return. A multi-byte rune cut at
// the end of b (by maxShown) still counts as text.
func isPrintable(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 {
			return len(b) < utf8.UTFMax && !utf8.FullRune(b)
		}
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f {
			return false
		}
		b = b[n:]
	}
	return true
}

// sparkline draws values as an inline SVG polyline of w×h pixels, scaled
// from 0 to the maximum (so a flat zero line sits at the bottom). Fewer
// than two points draw an empty box.
func sparkline(points []ratePoint, w, h int) template.HTML {
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="spark" width="%d" height="%d" viewBox="0 0 %d %d" preserveAspectRatio="none" role="img">`, w, h, w, h)
	if len(points) >= 2 {
		peak := 0.0
		for _, p := range points {
			peak = max(peak, p.PerSec)
		}
		coords := make([]string, len(points))
		for i, p := range points {
			x := float64(i) * float64(w-2) / float64(len(points)-1)
			y := float64(h - 2)
			if peak > 0 {
				y = float64(h-2) - p.PerSec/peak*float64(h-4)
			}
			coords[i] = fmt.Sprintf("%.1f,%.1f", x+1, y+1)
		}
		fmt.Fprintf(&sb, `<polyline fill="none" stroke="currentColor" stroke-width="1.5" vector-effect="non-scaling-stroke" points="%s"/>`, strings.Join(coords, " "))
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String()) // only numbers are interpolated
}

// limitReader reads at most n bytes of r.
func limitReader(r io.Reader, n int64) io.Reader { return io.LimitReader(r, n) }

// sortedIDs returns ids sorted, as a new slice.
func sortedIDs(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}
