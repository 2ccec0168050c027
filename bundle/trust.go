package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Signature contexts: each signed thing is prefixed with its own, so a
// signature over one kind can never be passed off as another.
const (
	certContext        = "cunbo-trainer-certificate-v1\n"
	revocationsContext = "cunbo-revocations-v1\n"
	manifestContext    = "cunbo-bundle-manifest-v1\n"
)

// maxSigned bounds a certificate's or revocation list's signed body.
const maxSigned = 256 << 10

// Fingerprint is the short form of a public key people read aloud or
// compare by eye: the first 10 bytes of its SHA-256 in five groups of hex.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	h := hex.EncodeToString(sum[:10])
	var b strings.Builder
	for i := 0; i < len(h); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(h[i : i+4])
	}
	return b.String()
}

// PublicKeyHex and ParsePublicKeyHex are the textual form of keys in
// manifests and certificates.
func PublicKeyHex(pub ed25519.PublicKey) string { return hex.EncodeToString(pub) }

// ParsePublicKeyHex parses 64 hex digits into an ed25519 public key.
func ParsePublicKeyHex(s string) (ed25519.PublicKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("bundle: public key %.20q: want %d hex digits", s, 2*ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// EnrolText is what a box's QR code says: its public key in hex behind a
// prefix that tells a scanner what it is. Boxes show it, trainers' tools
// read it back with ParseEnrolText.
func EnrolText(pub ed25519.PublicKey) string { return enrolPrefix + PublicKeyHex(pub) }

const enrolPrefix = "cunbo-box:"

// ParseEnrolText reads a box's public key as a trainer has it from the box:
// the QR text (EnrolText) or the hex alone, typed with spaces or dashes.
func ParseEnrolText(s string) (ed25519.PublicKey, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), enrolPrefix)
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || r == '-' {
			return -1
		}
		return unicode.ToLower(r)
	}, s)
	return ParsePublicKeyHex(s)
}

// Signed is a signed body: the exact bytes signed and the signature, so a
// verifier never has to re-encode anything to check it, and parses the body
// only once it is known to be genuine.
type Signed struct {
	Body []byte `json:"body"`
	Sig  []byte `json:"sig"`
}

func sign(key ed25519.PrivateKey, context string, v any) (Signed, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return Signed{}, fmt.Errorf("bundle: sign: %w", err)
	}
	return Signed{Body: body, Sig: ed25519.Sign(key, append([]byte(context), body...))}, nil
}

func (s Signed) open(pub ed25519.PublicKey, context string, v any) error {
	if len(s.Body) > maxSigned {
		return errors.New("signed body too large")
	}
	if len(s.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, append([]byte(context), s.Body...), s.Sig) {
		return errors.New("signature does not match")
	}
	return decodeStrict(s.Body, v)
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the JSON value")
	}
	return nil
}

// Trainer is what a certificate says about a trainer.
type Trainer struct {
	Serial    uint64    `json:"serial"`
	Name      string    `json:"name"`
	Key       string    `json:"key"` // ed25519 public key, hex
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

// PublicKey is the trainer's key, parsed.
func (t Trainer) PublicKey() (ed25519.PublicKey, error) { return ParsePublicKeyHex(t.Key) }

func (t Trainer) validate() error {
	if _, err := t.PublicKey(); err != nil {
		return err
	}
	if t.Serial == 0 {
		return errors.New("serial 0")
	}
	if t.Name == "" || len(t.Name) > 200 || !utf8.ValidString(t.Name) {
		return errors.New("name empty, too long or not UTF-8")
	}
	if !t.NotAfter.After(t.NotBefore) {
		return errors.New("valid until is not after valid from")
	}
	return nil
}

// ValidAt reports whether now is within the certificate's validity.
func (t Trainer) ValidAt(now time.Time) bool {
	return !now.Before(t.NotBefore) && !now.After(t.NotAfter)
}

// Certificate is a Trainer signed by the organisation's root key.
type Certificate Signed

// IssueCertificate signs t with the root key.
func IssueCertificate(root ed25519.PrivateKey, t Trainer) (Certificate, error) {
	if err := t.validate(); err != nil {
		return Certificate{}, fmt.Errorf("bundle: certificate: %w", err)
	}
	s, err := sign(root, certContext, t)
	return Certificate(s), err
}

// Verify checks the certificate against the root public key and returns
// what it says. It does not check validity dates or revocation.
func (c Certificate) Verify(root ed25519.PublicKey) (Trainer, error) {
	var t Trainer
	if err := Signed(c).open(root, certContext, &t); err != nil {
		return Trainer{}, fmt.Errorf("bundle: certificate: %w", err)
	}
	if err := t.validate(); err != nil {
		return Trainer{}, fmt.Errorf("bundle: certificate: %w", err)
	}
	return t, nil
}

// Revocations is the root's list of trainers no box may trust any more.
// Version grows with every new list, so a box keeps the newest it has seen.
type Revocations struct {
	Version uint64    `json:"version"`
	Issued  time.Time `json:"issued"`
	Serials []uint64  `json:"serials,omitempty"`
	Keys    []string  `json:"keys,omitempty"` // ed25519 public keys, hex
}

// Revokes reports whether t's certificate is on the list, by serial or key.
func (r *Revocations) Revokes(t Trainer) bool {
	if r == nil {
		return false
	}
	return slices.Contains(r.Serials, t.Serial) || slices.Contains(r.Keys, strings.ToLower(t.Key))
}

func (r Revocations) validate() error {
	for _, k := range r.Keys {
		if _, err := ParsePublicKeyHex(k); err != nil {
			return err
		}
		if k != strings.ToLower(k) {
			return errors.New("revoked key not in lower-case hex")
		}
	}
	return nil
}

// SignedRevocations is a revocation list signed by the root key.
type SignedRevocations Signed

// SignRevocations signs r with the root key.
func SignRevocations(root ed25519.PrivateKey, r Revocations) (SignedRevocations, error) {
	if err := r.validate(); err != nil {
		return SignedRevocations{}, fmt.Errorf("bundle: revocations: %w", err)
	}
	s, err := sign(root, revocationsContext, r)
	return SignedRevocations(s), err
}

// Verify checks the list against the root public key.
func (s SignedRevocations) Verify(root ed25519.PublicKey) (Revocations, error) {
	var r Revocations
	if err := Signed(s).open(root, revocationsContext, &r); err != nil {
		return Revocations{}, fmt.Errorf("bundle: revocations: %w", err)
	}
	if err := r.validate(); err != nil {
		return Revocations{}, fmt.Errorf("bundle: revocations: %w", err)
	}
	return r, nil
}

// Trust is what a box trusts: the organisation's root public key and the
// newest revocation list it has (nil for none yet).
type Trust struct {
	Root        ed25519.PublicKey
	Revocations *Revocations
}
