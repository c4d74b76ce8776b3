// Package tlsconf builds crypto/tls configurations from Apache Kafka's ssl.*
// property names, with PEM key and trust stores.
//
// Server makes a broker listener's config; it re-reads the key store and
// trust store files when they change on disk, so certificates can be
// rotated without a restart. Client makes the config of an outgoing
// connection (inter-broker, the CLI) and also understands librdkafka's
// names. PrincipalBuilder maps a verified client certificate to a Kafka
// principal name with ssl.principal.mapping.rules. GeneratePKI writes a
// small CA and certificates for `fjord dev --secure` and for tests.
//
// Only PEM stores are supported (no JKS or PKCS#12), private keys must be
// unencrypted, and TLS 1.2 is the lowest protocol version ever offered.
// The package imports only the standard library; all cryptography is Go's
// crypto/tls and crypto/x509.
package tlsconf
