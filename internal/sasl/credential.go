package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// Iteration bounds of a SCRAM credential, as Kafka enforces them for
// AlterUserScramCredentials.
const (
	MinIterations = 4096
	MaxIterations = 16384
)

// saltLen is the length of the salts NewCredential draws.
const saltLen = 32

// Credential is a stored SCRAM credential (RFC 5802 §3): the salt and
// iteration count the client derives its keys with, and the two keys the
// server verifies it with. It is never the password.
type Credential struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// Lookup finds the stored credential of user (decoded, e.g. "a,b" rather
// than the wire's "a=2Cb") for a SCRAM mechanism; ok is false when the
// user has none. It is called from Step, on the Exchange's goroutine.
type Lookup func(user, mechanism string) (Credential, bool)

// hashFor returns the hash function of a SCRAM mechanism.
func hashFor(mechanism string) (func() hash.Hash, error) {
	switch mechanism {
	case ScramSHA256:
		return sha256.New, nil
	case ScramSHA512:
		return sha512.New, nil
	}
	return nil, errMechanism(mechanism)
}

// SaltedPassword computes Hi(password, salt, iterations) of RFC 5802,
// which is PBKDF2 with the mechanism's HMAC. Clients of
// AlterUserScramCredentials send this rather than the password.
func SaltedPassword(mechanism, password string, salt []byte, iterations int) ([]byte, error) {
	h, err := hashFor(mechanism)
	if err != nil {
		return nil, err
	}
	if iterations < 1 {
		return nil, fmt.Errorf("sasl: iterations %d must be positive", iterations)
	}
	return pbkdf2.Key(h, password, salt, iterations, h().Size())
}

// DeriveCredential computes StoredKey = H(HMAC(saltedPassword, "Client
// Key")) and ServerKey = HMAC(saltedPassword, "Server Key"), as the broker
// does for AlterUserScramCredentials. It refuses an empty salt or salted
// password and iterations outside [MinIterations, MaxIterations].
func DeriveCredential(mechanism string, saltedPassword, salt []byte, iterations int) (Credential, error) {
	h, err := hashFor(mechanism)
	if err != nil {
		return Credential{}, err
	}
	if err := checkFactors(saltedPassword, salt, iterations); err != nil {
		return Credential{}, err
	}
	clientKey := mac(h, saltedPassword, "Client Key")
	stored := h()
	stored.Write(clientKey)
	return Credential{
		Salt:       append([]byte(nil), salt...),
		Iterations: iterations,
		StoredKey:  stored.Sum(nil),
		ServerKey:  mac(h, saltedPassword, "Server Key"),
	}, nil
}

func checkFactors(saltedPassword, salt []byte, iterations int) error {
	switch {
	case len(saltedPassword) == 0:
		return errors.New("sasl: empty salted password")
	case len(salt) == 0:
		return errors.New("sasl: empty salt")
	case iterations < MinIterations:
		return fmt.Errorf("sasl: too few iterations %d (minimum %d)", iterations, MinIterations)
	case iterations > MaxIterations:
		return fmt.Errorf("sasl: too many iterations %d (maximum %d)", iterations, MaxIterations)
	}
	return nil
}

func mac(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// NewCredential salts password with 32 random bytes and derives its
// credential, for tests and for a development super user.
func NewCredential(mechanism, password string, iterations int) (Credential, error) {
	salt := make([]byte, saltLen)
	rand.Read(salt) // never fails (crypto/rand, Go 1.24+)
	sp, err := SaltedPassword(mechanism, password, salt, iterations)
	if err != nil {
		return Credential{}, err
	}
	return DeriveCredential(mechanism, sp, salt, iterations)
}

// usable reports whether c can verify a proof made with hash h: a
// malformed stored credential fails the exchange like a wrong password.
func (c Credential) usable(h func() hash.Hash) bool {
	size := h().Size()
	return len(c.Salt) > 0 && c.Iterations > 0 && len(c.StoredKey) == size && len(c.ServerKey) == size
}

// decoyKey keys the decoy salts of unknown users; it lives as long as the
// process.
var decoyKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
})

// decoy is the credential shown to a user that has none (RFC 5802 §5.1):
// its salt is the same on every attempt for the same name, so the
// server-first-message does not reveal that the user is unknown, and its
// random keys match no proof.
func decoy(h func() hash.Hash, mechanism, user string) Credential {
	size := h().Size()
	keys := make([]byte, 2*size)
	rand.Read(keys)
	return Credential{
		Salt:       mac(sha256.New, decoyKey(), mechanism+"\x00"+user),
		Iterations: MinIterations,
		StoredKey:  keys[:size],
		ServerKey:  keys[size:],
	}
}
