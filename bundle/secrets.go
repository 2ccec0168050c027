package bundle

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"io"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// maxSecrets bounds a box's sealed secrets file.
const maxSecrets = 64 << 10

// Secrets are what a lost USB stick must not give away: sealed with age to
// each target box's own ed25519 key, so only that box opens them.
type Secrets struct {
	WiFi       []WiFi            `json:"wifi,omitempty"`
	StreamKeys map[string]string `json:"stream_keys,omitempty"` // destination name (as in config.toml) → stream key
	PIN        string            `json:"pin,omitempty"`         // the phone page's PIN
}

// WiFi is one network the box may join.
type WiFi struct {
	SSID     string `json:"ssid"`
	Password string `json:"password,omitempty"`
}

// seal encrypts s to the box key pub.
func seal(s Secrets, pub ed25519.PublicKey) ([]byte, error) {
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("bundle: secrets: box key: %w", err)
	}
	rcpt, err := agessh.NewEd25519Recipient(sshPub)
	if err != nil {
		return nil, fmt.Errorf("bundle: secrets: box key: %w", err)
	}
	plain, err := jsonMarshal(s)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rcpt)
	if err != nil {
		return nil, fmt.Errorf("bundle: secrets: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return nil, fmt.Errorf("bundle: secrets: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("bundle: secrets: %w", err)
	}
	if buf.Len() > maxSecrets {
		return nil, fmt.Errorf("bundle: secrets: %d bytes sealed, at most %d", buf.Len(), maxSecrets)
	}
	return buf.Bytes(), nil
}

// unseal opens sealed secrets with the box's private key. Every failure is
// a *Error of kind NoSecrets.
func unseal(sealed []byte, key ed25519.PrivateKey) (Secrets, error) {
	id, err := agessh.NewEd25519Identity(key)
	if err != nil {
		return Secrets{}, refuse(NoSecrets, err, "box key")
	}
	r, err := age.Decrypt(bytes.NewReader(sealed), id)
	if err != nil {
		return Secrets{}, refuse(NoSecrets, err, "decrypt")
	}
	plain, err := io.ReadAll(io.LimitReader(r, maxSecrets+1))
	if err != nil {
		return Secrets{}, refuse(NoSecrets, err, "decrypt")
	}
	if len(plain) > maxSecrets {
		return Secrets{}, refuse(Oversize, nil, "secrets over %d bytes", maxSecrets)
	}
	var s Secrets
	if err := decodeStrict(plain, &s); err != nil {
		return Secrets{}, refuse(Malformed, err, "secrets")
	}
	return s, nil
}
