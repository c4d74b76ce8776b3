package tlsconf

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf16"
)

// The subject is parsed again from its DER, because pkix.Name loses the
// order of the attributes and the grouping of multi-valued RDNs. Type
// names ending in SET make encoding/asn1 read an ASN.1 SET.
type (
	attribute struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	rdnSET      []attribute
	rdnSequence []rdnSET
)

// rfc2253Keywords are the attribute names Java's X500Principal.getName()
// prints; every other attribute type prints as its dotted OID.
var rfc2253Keywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "STREET",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
}

// subjectDN prints cert's subject as Java's X500Principal.getName() does
// (RFC 2253): most specific RDN first, RDNs joined by ',' and the values
// of a multi-valued RDN by '+', no spaces added.
func subjectDN(cert *x509.Certificate) (string, error) {
	var seq rdnSequence
	rest, err := asn1.Unmarshal(cert.RawSubject, &seq)
	if err != nil {
		return "", err
	}
	if len(rest) > 0 {
		return "", errors.New("trailing data after the subject")
	}
	rdns := make([]string, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		avas := make([]string, len(seq[i]))
		for j, a := range seq[i] {
			avas[j] = formatAttribute(a)
		}
		rdns = append(rdns, strings.Join(avas, "+"))
	}
	return strings.Join(rdns, ","), nil
}

// formatAttribute prints keyword=escaped-string for named types with a
// string value, and type=#hex-of-DER otherwise, as Java does.
func formatAttribute(a attribute) string {
	keyword, named := rfc2253Keywords[a.Type.String()]
	s, isString := decodeString(a.Value)
	if !named || !isString {
		return a.Type.String() + "=#" + hex.EncodeToString(a.Value.FullBytes)
	}
	return keyword + "=" + escapeValue(s)
}

// decodeString decodes the ASN.1 string types Java prints as text.
func decodeString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal {
		return "", false
	}
	switch v.Tag {
	case asn1.TagUTF8String:
		return strings.ToValidUTF8(string(v.Bytes), "\uFFFD"), true
	case asn1.TagPrintableString, asn1.TagT61String, asn1.TagIA5String, asn1.TagGeneralString:
		return latin1(v.Bytes), true
	case asn1.TagBMPString:
		return bmp(v.Bytes), true
	}
	return "", false
}

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

// bmp decodes UTF-16 big-endian; an odd last byte is dropped.
func bmp(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return string(utf16.Decode(u))
}

// escapeValue escapes as Java's RFC 2253 printer: a backslash before any
// of ,=+<>#;"\ wherever it stands, NUL as \00, and a backslash before
// each leading and trailing space or carriage return.
func escapeValue(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case strings.ContainsRune(`,=+<>#;"\`, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == 0:
			b.WriteString(`\00`)
		default:
			b.WriteRune(r)
		}
	}
	return escapeEdges(b.String())
}

func escapeEdges(s string) string {
	isSpace := func(c byte) bool { return c == ' ' || c == '\r' }
	lead, trail := 0, len(s)
	for lead < len(s) && isSpace(s[lead]) {
		lead++
	}
	for trail > lead && isSpace(s[trail-1]) {
		trail--
	}
	if lead == 0 && trail == len(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if i < lead || i >= trail {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
