package tlsconf

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"testing"
)

var (
	oidCN     = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOU     = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidO      = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidL      = asn1.ObjectIdentifier{2, 5, 4, 7}
	oidST     = asn1.ObjectIdentifier{2, 5, 4, 8}
	oidC      = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidUID    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	oidSerial = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidEmail  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

// certWithSubject returns a certificate whose subject is seq, as it would
// be encoded in DER (most general RDN first).
func certWithSubject(t *testing.T, seq pkix.RDNSequence) *x509.Certificate {
	t.Helper()
	raw, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return &x509.Certificate{RawSubject: raw}
}

func atv(oid asn1.ObjectIdentifier, v any) []pkix.AttributeTypeAndValue {
	return []pkix.AttributeTypeAndValue{{Type: oid, Value: v}}
}

func TestSubjectDN(t *testing.T) {
	cases := []struct {
		seq  pkix.RDNSequence
		want string
	}{
		{pkix.RDNSequence{atv(oidC, "US"), atv(oidST, "CA"), atv(oidL, "Palo Alto"), atv(oidO, "Acme"), atv(oidOU, "eng"), atv(oidCN, "alice")},
			"CN=alice,OU=eng,O=Acme,L=Palo Alto,ST=CA,C=US"},
		{pkix.RDNSequence{atv(oidO, "Acme, Inc."), atv(oidCN, `a+b=c<d>#e;"f"\g`)},
			`CN=a\+b\=c\<d\>\#e\;\"f\"\\g,O=Acme\, Inc.`},
		{pkix.RDNSequence{atv(oidCN, " padded  ")}, `CN=\ padded\ \ `},
		{pkix.RDNSequence{atv(oidCN, "ünïcode@x_y")}, "CN=ünïcode@x_y"},
		{pkix.RDNSequence{atv(oidOU, "eng"), {{Type: oidCN, Value: "bob"}, {Type: oidUID, Value: "b1"}}},
			"CN=bob+UID=b1,OU=eng"},
		{pkix.RDNSequence{atv(oidSerial, "42"), atv(oidEmail, asn1.RawValue{Tag: asn1.TagIA5String, Bytes: []byte("a@b")})},
			"1.2.840.113549.1.9.1=#1603614062,2.5.4.5=#13023432"},
		{pkix.RDNSequence{}, ""},
	}
	for _, tc := range cases {
		got, err := subjectDN(certWithSubject(t, tc.seq))
		if err != nil || got != tc.want {
			t.Errorf("got %q, %v; want %q", got, err, tc.want)
		}
	}
}

func TestSubjectDNOfGeneratedCert(t *testing.T) {
	pki, _ := testPKI(t)
	data := mustRead(t, pki.Clients["alice"])
	build, err := PrincipalBuilder("")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := build(leafOf(t, data)); err != nil || got != "CN=alice" {
		t.Fatalf("got %q, %v", got, err)
	}
	name := pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}, Organization: []string{"Acme"}, Country: []string{"US"}}
	cert := certWithSubject(t, name.ToRDNSequence())
	if got, _ := build(cert); got != "CN=alice,OU=eng,O=Acme,C=US" {
		t.Fatalf("pkix.Name subject: got %q", got)
	}
}

func TestPrincipalRules(t *testing.T) {
	alice := certWithSubject(t, pkix.RDNSequence{atv(oidC, "US"), atv(oidO, "Acme"), atv(oidOU, "ServiceUsers"), atv(oidCN, "Alice")})
	bob := certWithSubject(t, pkix.RDNSequence{atv(oidO, "Other"), atv(oidCN, "bob")})
	cases := []struct {
		rules      string
		alice, bob string // "" means an ErrNoMatchingRule error
	}{
		{"", "CN=Alice,OU=ServiceUsers,O=Acme,C=US", "CN=bob,O=Other"},
		{"DEFAULT", "CN=Alice,OU=ServiceUsers,O=Acme,C=US", "CN=bob,O=Other"},
		{`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/`, "Alice", ""},
		{`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT`, "alice", "CN=bob,O=Other"},
		{`RULE:^CN=(.*?),OU=(.*?),.*$/$1@$2/U,RULE:^CN=([a-z]+),O=(.*)$/$2\/$1 \$x/`, "ALICE@SERVICEUSERS", "Other/bob $x"},
		{`RULE:^CN=(?P<user>[^,]+),.*$/user-${user}/`, "user-Alice", "user-bob"},
		{`RULE:^CN=bob.*/$0/`, "", "CN=bob,O=Other"},
		{`RULE:CN=A/x/`, "", ""}, // patterns must match the whole name
		{`RULE:^O=.*$/x/,DEFAULT`, "CN=Alice,OU=ServiceUsers,O=Acme,C=US", "CN=bob,O=Other"},
	}
	for _, tc := range cases {
		build, err := PrincipalBuilder(tc.rules)
		if err != nil {
			t.Fatalf("%s: %v", tc.rules, err)
		}
		for _, c := range []struct {
			cert *x509.Certificate
			want string
		}{{alice, tc.alice}, {bob, tc.bob}} {
			got, err := build(c.cert)
			if c.want == "" {
				if !errors.Is(err, ErrNoMatchingRule) {
					t.Errorf("%s: got %q, %v; want no match", tc.rules, got, err)
				}
				continue
			}
			if err != nil || got != c.want {
				t.Errorf("%s: got %q, %v; want %q", tc.rules, got, err, c.want)
			}
		}
	}
}

func TestPrincipalRulesMalformed(t *testing.T) {
	for _, rules := range []string{
		"RULE:^CN=(.*)$",         // no '/'
		"RULE:^CN=(.*)$/$1",      // no closing '/'
		"RULE:^CN=(.*)$/$1/X",    // bad flag
		"RULE:^CN=(.*)$/$2/",     // no group 2
		"RULE:^CN=(.*)$/$x/",     // '$' without a group
		"RULE:^CN=(.*)$/${u}/",   // no group u
		`RULE:^CN=(.*)$/$1\/`,    // the last '/' is escaped
		"RULE:^CN=(?=a).*$/x/",   // look-ahead: not RE2
		"RULE:^CN=([a-z$/x/",     // bad regexp
		"DEFAULT,",               // empty entry
		"DEFAULT DEFAULT",        // no comma
		"KERBEROS:^CN=(.*)$/$1/", // unknown kind
		"DEFAULTS",               // trailing text
	} {
		if _, err := PrincipalBuilder(rules); err == nil {
			t.Errorf("%q accepted", rules)
		}
	}
}

func TestGroupNumbersTakeDigitsWhileValid(t *testing.T) {
	cert := certWithSubject(t, pkix.RDNSequence{atv(oidCN, "abcdefghijk")})
	build, err := PrincipalBuilder(`RULE:^CN=(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)$/$11-$12/`)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := build(cert); err != nil || got != "k-a2" {
		t.Fatalf("got %q, %v; want k-a2", got, err)
	}
}
