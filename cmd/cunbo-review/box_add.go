package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cunbo/cunbo/bundle"
	"github.com/cunbo/cunbo/review/boxauth"
)

func runBoxAdd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("box add", flag.ContinueOnError)
	var sf storeFlags
	sf.register(fs)
	keyFile := fs.String("key", "", "file with the box's ed25519 public key (PEM, hex, base64 or 32 raw bytes)")
	keyHex := fs.String("key-hex", "", "the box's ed25519 public key in hex")
	name := fs.String("name", "", "a name for the box (village, streamer)")
	if code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	var pub []byte
	var err error
	switch {
	case (*keyFile == "") == (*keyHex == ""):
		fmt.Fprintln(stderr, "cunbo-review box add: give exactly one of --key and --key-hex")
		return 2
	case *keyFile != "":
		var data []byte
		if data, err = os.ReadFile(*keyFile); err == nil {
			pub, err = parsePublicKey(data)
		}
	default:
		pub, err = parsePublicKey([]byte(*keyHex))
	}
	if err != nil {
		fmt.Fprintf(stderr, "cunbo-review box add: %v\n", err)
		return 1
	}
	st, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo-review box add: %v\n", err)
		return 1
	}
	defer st.Close()
	id, err := boxauth.Enroll(ctx, st, pub, *name, "cli", time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "cunbo-review box add: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, id)
	return 0
}

// parsePublicKey reads an ed25519 public key in the forms a box's key tool
// or openssl writes: PEM (PKIX), hex, base64, or the raw 32 bytes.
func parsePublicKey(data []byte) (ed25519.PublicKey, error) {
	if blk, _ := pem.Decode(data); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key PEM: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key is %T, want ed25519", k)
		}
		return pub, nil
	}
	if len(data) == ed25519.PublicKeySize {
		return ed25519.PublicKey(data), nil
	}
	text := bytes.TrimSpace(data)
	if pub, err := bundle.ParseEnrolText(string(text)); err == nil { // hex, or the box's QR text
		return pub, nil
	}
	if b, err := base64.StdEncoding.DecodeString(string(text)); err == nil && len(b) == ed25519.PublicKeySize {
		return b, nil
	}
	return nil, errors.New("not an ed25519 public key (want the box's QR text cunbo-box:…, 64 hex digits, PEM, base64 or 32 raw bytes)")
}
