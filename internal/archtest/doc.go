// Package archtest holds the test that enforces the package boundaries of
// DESIGN.md section 3: which internal packages each package may import,
// and which may see Kafka protocol types. It has no code of its own.
package archtest
