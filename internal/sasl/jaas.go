package sasl

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PlainLoginModule is the login module whose user_<name> options list the
// PLAIN users and passwords.
const PlainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule"

// JAAS is one parsed JAAS login-module entry, e.g.
//
//	org.apache.kafka.common.security.plain.PlainLoginModule required
//	    username="admin" password="admin-secret" user_admin="admin-secret";
type JAAS struct {
	LoginModule string
	Flag        string // required, requisite, sufficient or optional (lower case)
	Options     map[string]string
}

// PlainUsers returns the user_<name>=<password> options of a
// PlainLoginModule entry as name -> password; it is empty for any other
// login module.
func (j JAAS) PlainUsers() map[string]string {
	users := map[string]string{}
	if j.LoginModule != PlainLoginModule {
		return users
	}
	for k, v := range j.Options {
		if name, ok := strings.CutPrefix(k, "user_"); ok && name != "" {
			users[name] = v
		}
	}
	return users
}

// ParseJAAS parses exactly one login-module entry as Kafka's JaasConfig
// does for sasl.jaas.config: a login module class name, a control flag
// (case-insensitive), options key=value where a value is a word or a
// "quoted string" with backslash escapes, and a closing ';'. Comments
// (// and /* */) are skipped. A repeated option keeps its last value.
func ParseJAAS(s string) (JAAS, error) {
	p := &jaasParser{src: s}
	j, err := p.entry()
	if err != nil {
		return JAAS{}, fmt.Errorf("sasl: JAAS config: %w", err)
	}
	return j, nil
}

type jaasParser struct {
	src string
	pos int
}

func (p *jaasParser) entry() (JAAS, error) {
	j := JAAS{Options: map[string]string{}}
	var err error
	if j.LoginModule, err = p.word("login module name"); err != nil {
		return JAAS{}, err
	}
	if j.Flag, err = p.flag(); err != nil {
		return JAAS{}, err
	}
	for {
		done, err := p.option(j.Options)
		if err != nil || done {
			return j, err
		}
	}
}

func (p *jaasParser) flag() (string, error) {
	f, err := p.word("control flag")
	if err != nil {
		return "", err
	}
	switch f = strings.ToLower(f); f {
	case "required", "requisite", "sufficient", "optional":
		return f, nil
	}
	return "", fmt.Errorf("invalid control flag %q", f)
}

// option reads key=value into opts, or the final ';' (then done).
func (p *jaasParser) option(opts map[string]string) (done bool, err error) {
	if err := p.skip(); err != nil {
		return false, err
	}
	if p.peek() == ';' {
		p.pos++
		return true, p.end()
	}
	key, err := p.word("option name or ';'")
	if err != nil {
		return false, err
	}
	if err := p.expect('='); err != nil {
		return false, err
	}
	v, err := p.value()
	opts[key] = v
	return false, err
}

// end accepts only blanks and comments after the ';'.
func (p *jaasParser) end() error {
	if err := p.skip(); err != nil {
		return err
	}
	if p.pos < len(p.src) {
		return fmt.Errorf("unexpected text after ';' at offset %d (one login module only)", p.pos)
	}
	return nil
}

func (p *jaasParser) expect(c byte) error {
	if err := p.skip(); err != nil {
		return err
	}
	if p.peek() != c {
		return fmt.Errorf("expected %q at offset %d", c, p.pos)
	}
	p.pos++
	return nil
}

func (p *jaasParser) value() (string, error) {
	if err := p.skip(); err != nil {
		return "", err
	}
	if p.peek() == '"' {
		return p.quoted()
	}
	return p.word("option value")
}

// peek returns the next byte, 0 at the end.
func (p *jaasParser) peek() byte {
	if p.pos >= len(p.src) {
		return 0
	}
	return p.src[p.pos]
}

// word reads a run of letters, digits and "._-$" after blanks.
func (p *jaasParser) word(what string) (string, error) {
	if err := p.skip(); err != nil {
		return "", err
	}
	start := p.pos
	for p.pos < len(p.src) {
		r, n := utf8.DecodeRuneInString(p.src[p.pos:])
		if !isWordRune(r) {
			break
		}
		p.pos += n
	}
	if p.pos == start {
		return "", fmt.Errorf("expected %s at offset %d", what, start)
	}
	return p.src[start:p.pos], nil
}

func isWordRune(r rune) bool {
	return r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-$", r))
}

// skip passes blanks and comments; an unterminated /* is an error.
func (p *jaasParser) skip() error {
	for p.pos < len(p.src) {
		rest := p.src[p.pos:]
		switch {
		case rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r' || rest[0] == '\f':
			p.pos++
		case strings.HasPrefix(rest, "//"):
			p.pos += lineEnd(rest)
		case strings.HasPrefix(rest, "/*"):
			end := strings.Index(rest[2:], "*/")
			if end < 0 {
				return fmt.Errorf("unterminated comment at offset %d", p.pos)
			}
			p.pos += end + 4
		default:
			return nil
		}
	}
	return nil
}

func lineEnd(s string) int {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return i
	}
	return len(s)
}

// jaasEscapes are the backslash escapes of a quoted value besides \<c>
// meaning c itself (as \" and \\).
var jaasEscapes = map[byte]byte{'a': '\a', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}

// quoted reads a "..." value; it must end on the line it starts.
func (p *jaasParser) quoted() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		p.pos++
		switch {
		case c == '"':
			return b.String(), nil
		case c == '\n' || c == '\r':
			p.pos = len(p.src)
		case c == '\\' && p.pos < len(p.src):
			b.WriteByte(unescape(p.src[p.pos]))
			p.pos++
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("unterminated quoted string at offset %d", start)
}

func unescape(c byte) byte {
	if e, ok := jaasEscapes[c]; ok {
		return e
	}
	return c
}
