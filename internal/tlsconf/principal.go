package tlsconf

import (
	"crypto/x509"
	"fmt"
	"regexp"
	"strings"
)

// PrincipalBuilder maps a verified client certificate to a Kafka
// principal name (without the "User:" prefix) with the rules of
// ssl.principal.mapping.rules: a comma-separated list of
// RULE:pattern/replacement/ entries, optionally ending in L or U to lower-
// or upper-case the result, and DEFAULT. The subject is printed as Java's
// X500Principal.getName() does ("CN=alice,OU=eng,O=Acme,C=US") and the
// first rule whose pattern matches all of it gives the name: DEFAULT the
// subject itself, a RULE the subject with the pattern replaced by the
// replacement ($1 or ${name} for groups; a backslash quotes the next
// character, '/' included). Empty rules mean DEFAULT. When no rule
// matches, the function returns an error wrapping ErrNoMatchingRule; it
// is safe for concurrent use.
//
// Patterns are Go regular expressions (RE2), which cover Java's except
// look-around and back references; those fail here. Unlike Java's
// replaceAll, an empty match right after a match (as `(.*)` finds at the
// end) is not replaced again; anchored patterns behave the same in both.
func PrincipalBuilder(rules string) (func(cert *x509.Certificate) (string, error), error) {
	parsed, err := parseRules(rules)
	if err != nil {
		return nil, err
	}
	return func(cert *x509.Certificate) (string, error) {
		dn, err := subjectDN(cert)
		if err != nil {
			return "", fmt.Errorf("tlsconf: client certificate subject: %w", err)
		}
		for _, r := range parsed {
			if name, ok := r.apply(dn); ok {
				return name, nil
			}
		}
		return "", fmt.Errorf("tlsconf: %w %q", ErrNoMatchingRule, dn)
	}, nil
}

// rule is one parsed entry; a nil match is DEFAULT.
type rule struct {
	match    *regexp.Regexp // the pattern anchored at both ends
	replace  *regexp.Regexp // the pattern as written, for replacing
	template string         // the replacement in regexp.Expand's syntax
	fold     byte           // 'L', 'U' or 0
}

func (r rule) apply(dn string) (string, bool) {
	if r.match == nil {
		return dn, true
	}
	if !r.match.MatchString(dn) {
		return "", false
	}
	out := r.replace.ReplaceAllString(dn, r.template)
	switch r.fold {
	case 'L':
		out = strings.ToLower(out)
	case 'U':
		out = strings.ToUpper(out)
	}
	return out, true
}

// parseRules reads the comma-separated list. Commas inside a RULE's
// pattern or replacement belong to it: an entry ends at its last '/' (and
// flag), after which only white space and a comma or the end may follow.
func parseRules(s string) ([]rule, error) {
	rest := strings.TrimSpace(s)
	if rest == "" {
		return []rule{{}}, nil
	}
	var out []rule
	for {
		r, after, err := parseRule(rest)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: ssl.principal.mapping.rules: %w", err)
		}
		out = append(out, r)
		after = strings.TrimSpace(after)
		if after == "" {
			return out, nil
		}
		if after[0] != ',' || strings.TrimSpace(after[1:]) == "" {
			return nil, fmt.Errorf("tlsconf: ssl.principal.mapping.rules: unexpected %q after a rule", after)
		}
		rest = strings.TrimSpace(after[1:])
	}
}

// parseRule reads one DEFAULT or RULE:pattern/replacement/[LU] at the
// start of s and returns the text after it.
func parseRule(s string) (rule, string, error) {
	if rest, ok := strings.CutPrefix(s, "DEFAULT"); ok {
		return rule{}, rest, nil
	}
	rest, ok := strings.CutPrefix(s, "RULE:")
	if !ok {
		return rule{}, "", fmt.Errorf("invalid rule %q: want DEFAULT or RULE:pattern/replacement/", s)
	}
	pattern, rest, ok := cutUnescaped(rest, '/')
	if !ok {
		return rule{}, "", fmt.Errorf("rule %q: no '/' after the pattern", s)
	}
	replacement, rest, ok := cutUnescaped(rest, '/')
	if !ok {
		return rule{}, "", fmt.Errorf("rule %q: no '/' after the replacement", s)
	}
	r, err := compileRule(pattern, replacement)
	if err != nil {
		return rule{}, "", fmt.Errorf("rule %q: %w", s, err)
	}
	if rest != "" && (rest[0] == 'L' || rest[0] == 'U') {
		r.fold, rest = rest[0], rest[1:]
	}
	return r, rest, nil
}

// cutUnescaped splits s at the first sep not preceded by a backslash; the
// backslashes stay in the text before it.
func cutUnescaped(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func compileRule(pattern, replacement string) (rule, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return rule{}, err
	}
	match, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return rule{}, err
	}
	tmpl, err := expandTemplate(replacement, re)
	if err != nil {
		return rule{}, err
	}
	return rule{match: match, replace: re, template: tmpl}, nil
}

// expandTemplate turns a Java replacement string into regexp.Expand's
// syntax: "\x" is a literal x, "$n" takes as many digits as still name a
// group of re (Java's rule), "${name}" a named group.
func expandTemplate(java string, re *regexp.Regexp) (string, error) {
	var b strings.Builder
	for i := 0; i < len(java); i++ {
		switch c := java[i]; c {
		case '\\':
			if i++; i == len(java) {
				return "", fmt.Errorf("replacement %q ends in a backslash", java)
			}
			writeLiteral(&b, java[i])
		case '$':
			ref, n, err := groupRef(java[i+1:], re)
			if err != nil {
				return "", fmt.Errorf("replacement %q: %w", java, err)
			}
			b.WriteString("${" + ref + "}")
			i += n
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func writeLiteral(b *strings.Builder, c byte) {
	if c == '$' {
		b.WriteString("$$")
		return
	}
	b.WriteByte(c)
}

// groupRef reads the group reference after a '$' and returns it and the
// number of bytes it took.
func groupRef(s string, re *regexp.Regexp) (string, int, error) {
	if name, ok := strings.CutPrefix(s, "{"); ok {
		end := strings.IndexByte(name, '}')
		if end < 0 || re.SubexpIndex(name[:end]) < 0 {
			return "", 0, fmt.Errorf("no group named in ${%s", name)
		}
		return name[:end], end + 2, nil
	}
	if s == "" || s[0] < '0' || s[0] > '9' {
		return "", 0, fmt.Errorf("'$' is not followed by a group number")
	}
	num, n := int(s[0]-'0'), 1
	if num > re.NumSubexp() {
		return "", 0, fmt.Errorf("no group %d", num)
	}
	for n < len(s) && s[n] >= '0' && s[n] <= '9' && num*10+int(s[n]-'0') <= re.NumSubexp() {
		num, n = num*10+int(s[n]-'0'), n+1
	}
	return fmt.Sprint(num), n, nil
}
