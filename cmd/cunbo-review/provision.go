package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"golang.org/x/term"

	"github.com/cunbo/cunbo/bundle"
)

// Files of the organisation's root folder (provision init --out DIR). It
// belongs on an offline machine or an encrypted stick in a drawer: the root
// key signs every trainer.
const (
	rootKeyFile     = "root.key.age"     // the root key's seed in hex, age-encrypted with a passphrase
	rootPubFile     = "root.pub"         // the root public key in hex: what every box trusts
	revocationsFile = "revocations.json" // the root-signed revocation list, newest
	issuedFile      = "issued.tsv"       // serial, name, key, valid until: one line per certificate
)

// Files of a trainer's folder (provision trainer --out DIR).
const (
	trainerKeyFile  = "trainer.key"  // the trainer's seed in hex (mode 0600)
	trainerCertFile = "trainer.cert" // her certificate (JSON)
)

// minPassphrase is the shortest root passphrase init takes.
const minPassphrase = 10

func provisionCommands() map[string]command {
	return map[string]command{
		"init":    {"make the organisation's root key (offline, passphrase-protected)", runProvisionInit},
		"trainer": {"issue a trainer's key and certificate, signed by the root", runProvisionTrainer},
		"revoke":  {"revoke a trainer's certificate (by serial, key or certificate file)", runProvisionRevoke},
		"bundle":  {"make a signed setup bundle for boxes (scripted workshops)", runProvisionBundle},
	}
}

// runProvision is `cunbo-review provision <init|trainer|revoke|bundle>`.
func runProvision(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := provisionCommands()
	if len(args) > 0 {
		if c, ok := cmds[args[0]]; ok {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, "usage: cunbo-review provision <command> [flags]\n\ncommands:")
	for _, n := range []string{"init", "trainer", "revoke", "bundle"} {
		fmt.Fprintf(stderr, "  %-8s %s\n", n, cmds[n].summary)
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		return 0
	}
	return 2
}

func runProvisionInit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provision init", flag.ContinueOnError)
	out := fs.String("out", "", "new folder for the root key (keep it offline)")
	passFile := fs.String("passphrase-file", "", "read the passphrase from this file (first line) instead of the terminal")
	if code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	fail := failer(stderr, "provision init")
	if *out == "" {
		return fail(2, errors.New("--out is required"))
	}
	pass, err := readPassphrase(*passFile, true, stderr)
	if err != nil {
		return fail(1, err)
	}
	if len([]rune(pass)) < minPassphrase {
		return fail(1, fmt.Errorf("the passphrase must be at least %d characters", minPassphrase))
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fail(1, err)
	}
	rcpt, err := age.NewScryptRecipient(pass)
	if err != nil {
		return fail(1, err)
	}
	var sealed bytes.Buffer
	w, err := age.Encrypt(&sealed, rcpt)
	if err == nil {
		_, err = io.WriteString(w, hex.EncodeToString(priv.Seed())+"\n")
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return fail(1, fmt.Errorf("encrypt the root key: %w", err))
	}
	revs, err := bundle.SignRevocations(priv, bundle.Revocations{Version: 1, Issued: time.Now().UTC()})
	if err != nil {
		return fail(1, err)
	}
	revsJSON, err := json.MarshalIndent(revs, "", "  ")
	if err != nil {
		return fail(1, err)
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return fail(1, err)
	}
	// Never over an existing root: that would orphan every box trusting it.
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{rootKeyFile, sealed.Bytes(), 0o600},
		{rootPubFile, []byte(bundle.PublicKeyHex(pub) + "\n"), 0o644},
		{revocationsFile, append(revsJSON, '\n'), 0o644},
	} {
		if err := writeNewFile(filepath.Join(*out, f.name), f.data, f.mode); err != nil {
			return fail(1, err)
		}
	}
	fmt.Fprintf(stdout, "根密钥指纹 (root key fingerprint): %s\n根公钥 (root public key): %s\n",
		bundle.Fingerprint(pub), filepath.Join(*out, rootPubFile))
	return 0
}

func runProvisionTrainer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provision trainer", flag.ContinueOnError)
	root := fs.String("root", "", "the root folder (from provision init)")
	name := fs.String("name", "", "the trainer's name, as boxes and the console show it")
	days := fs.Int("valid-days", 365, "days the certificate is valid")
	out := fs.String("out", "", "new folder for the trainer's key, certificate and the root public key")
	passFile := fs.String("passphrase-file", "", "read the root passphrase from this file instead of the terminal")
	if code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	fail := failer(stderr, "provision trainer")
	if *root == "" || *out == "" || strings.TrimSpace(*name) == "" || *days <= 0 {
		return fail(2, errors.New("--root, --name, --out and a positive --valid-days are required"))
	}
	rootKey, err := openRoot(*root, *passFile, stderr)
	if err != nil {
		return fail(1, err)
	}
	tpub, tpriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return fail(1, err)
	}
	var serialBytes [8]byte
	if _, err := rand.Read(serialBytes[:]); err != nil {
		return fail(1, err)
	}
	// 53 bits: exact in JSON numbers everywhere, typed by hand to revoke.
	serial := binary.BigEndian.Uint64(serialBytes[:])>>11 | 1
	now := time.Now().UTC().Truncate(time.Second)
	info := bundle.Trainer{Serial: serial, Name: strings.TrimSpace(*name), Key: bundle.PublicKeyHex(tpub),
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(0, 0, *days)}
	cert, err := bundle.IssueCertificate(rootKey, info)
	if err != nil {
		return fail(1, err)
	}
	certJSON, err := json.MarshalIndent(cert, "", "  ")
	if err != nil {
		return fail(1, err)
	}
	rootPub, err := os.ReadFile(filepath.Join(*root, rootPubFile))
	if err != nil {
		return fail(1, err)
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return fail(1, err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{trainerKeyFile, []byte(hex.EncodeToString(tpriv.Seed()) + "\n"), 0o600},
		{trainerCertFile, append(certJSON, '\n'), 0o644},
		{rootPubFile, rootPub, 0o644},
	} {
		if err := writeNewFile(filepath.Join(*out, f.name), f.data, f.mode); err != nil {
			return fail(1, err)
		}
	}
	line := fmt.Sprintf("%d\t%s\t%s\t%s\n", serial, info.Name, info.Key, info.NotAfter.Format(time.DateOnly))
	if err := appendFile(filepath.Join(*root, issuedFile), line); err != nil {
		return fail(1, err)
	}
	fmt.Fprintf(stdout, "培训老师 (trainer): %s\n证书编号 (serial): %d\n有效到 (valid until): %s\n密钥指纹 (key fingerprint): %s\n",
		info.Name, serial, info.NotAfter.Format(time.DateOnly), bundle.Fingerprint(tpub))
	return 0
}

func runProvisionRevoke(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("provision revoke", flag.ContinueOnError)
	root := fs.String("root", "", "the root folder (from provision init)")
	serial := fs.Uint64("serial", 0, "the certificate's serial")
	keyHex := fs.String("key", "", "the trainer's public key in hex")
	certFile := fs.String("cert", "", "the trainer's certificate file")
	passFile := fs.String("passphrase-file", "", "read the root passphrase from this file instead of the terminal")
	if code, ok := parse(fs, args, 0, stderr); !ok {
		return code
	}
	fail := failer(stderr, "provision revoke")
	given := 0
	for _, set := range []bool{*serial != 0, *keyHex != "", *certFile != ""} {
		if set {
			given++
		}
	}
	if *root == "" || given != 1 {
		return fail(2, errors.New("--root and exactly one of --serial, --key and --cert are required"))
	}
	rootKey, err := openRoot(*root, *passFile, stderr)
	if err != nil {
		return fail(1, err)
	}
	rootPub := rootKey.Public().(ed25519.PublicKey)
	list, err := readRevocations(filepath.Join(*root, revocationsFile), rootPub)
	if err != nil {
		return fail(1, err)
	}
	switch {
	case *serial != 0:
		list.Serials = append(list.Serials, *serial)
	case *keyHex != "":
		k, err := bundle.ParsePublicKeyHex(strings.ToLower(strings.TrimSpace(*keyHex)))
		if err != nil {
			return fail(2, err)
		}
		list.Keys = append(list.Keys, bundle.PublicKeyHex(k))
	default:
		var cert bundle.Certificate
		if err := readJSON(*certFile, &cert); err != nil {
			return fail(1, err)
		}
		t, err := cert.Verify(rootPub)
		if err != nil {
			return fail(1, err)
		}
		list.Serials = append(list.Serials, t.Serial)
	}
	list.Version++
	list.Issued = time.Now().UTC()
	signed, err := bundle.SignRevocations(rootKey, list)
	if err != nil {
		return fail(1, err)
	}
	data, err := json.MarshalIndent(signed, "", "  ")
	if err != nil {
		return fail(1, err)
	}
	if err := writeFileAtomic(filepath.Join(*root, revocationsFile), append(data, '\n'), 0o644); err != nil {
		return fail(1, err)
	}
	fmt.Fprintf(stdout, "已停用 (revoked). 停用名单 (revocation list) version %d: %s\n",
		list.Version, filepath.Join(*root, revocationsFile))
	fmt.Fprintln(stdout, "Give the new list to every trainer: their next bundles carry it to the boxes.")
	return 0
}

// openRoot decrypts the root key in dir with the passphrase.
func openRoot(dir, passFile string, stderr io.Writer) (ed25519.PrivateKey, error) {
	sealed, err := os.ReadFile(filepath.Join(dir, rootKeyFile))
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	pass, err := readPassphrase(passFile, false, stderr)
	if err != nil {
		return nil, err
	}
	id, err := age.NewScryptIdentity(pass)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(sealed), id)
	if err != nil {
		return nil, fmt.Errorf("root key: wrong passphrase or damaged file: %w", err)
	}
	seed, err := io.ReadAll(io.LimitReader(r, 1<<10))
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	key, err := parseSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	pub, err := readPublicKeyFile(filepath.Join(dir, rootPubFile))
	if err != nil {
		return nil, err
	}
	if !pub.Equal(key.Public()) {
		return nil, fmt.Errorf("%s does not belong to %s", rootPubFile, rootKeyFile)
	}
	return key, nil
}

// readPassphrase reads it from file (its first line) or, without one, from
// the terminal without echo; never from the command line, where ps and
// shell history would keep it.
func readPassphrase(file string, confirm bool, stderr io.Writer) (string, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("passphrase: %w", err)
		}
		defer f.Close()
		line, err := bufio.NewReader(io.LimitReader(f, 4<<10)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("passphrase: %w", err)
		}
		if line = strings.TrimRight(line, "\r\n"); line == "" {
			return "", fmt.Errorf("passphrase: %s is empty", file)
		}
		return line, nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return "", errors.New("passphrase: no terminal to ask on; use --passphrase-file")
	}
	defer tty.Close()
	ask := func(prompt string) (string, error) {
		fmt.Fprint(tty, prompt)
		b, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		return string(b), err
	}
	pass, err := ask("根密钥口令 (root passphrase): ")
	if err != nil {
		return "", fmt.Errorf("passphrase: %w", err)
	}
	if confirm {
		again, err := ask("再输一次 (again): ")
		if err != nil {
			return "", fmt.Errorf("passphrase: %w", err)
		}
		if again != pass {
			return "", errors.New("passphrase: the two do not match")
		}
	}
	if pass == "" {
		return "", errors.New("passphrase: empty")
	}
	return pass, nil
}

// parseSeed reads an ed25519 key kept as its 32-byte seed in hex, the way
// the box keeps its own (firmware/upload/key.go).
func parseSeed(data []byte) (ed25519.PrivateKey, error) {
	seed, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("want a %d-byte seed in hex", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

func readPublicKeyFile(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pub, err := parsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return pub, nil
}

func readRevocations(path string, root ed25519.PublicKey) (bundle.Revocations, error) {
	var s bundle.SignedRevocations
	if err := readJSON(path, &s); err != nil {
		return bundle.Revocations{}, err
	}
	r, err := s.Verify(root)
	if err != nil {
		return bundle.Revocations{}, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeNewFile writes a file that must not exist yet.
func writeNewFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeFileAtomic replaces path with data: a temporary file in the same
// folder, synced, then renamed over it, so a crash leaves the old or the
// new file, never half of one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func appendFile(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// failer prints a command's error and returns its exit code.
func failer(stderr io.Writer, name string) func(code int, err error) int {
	return func(code int, err error) int {
		fmt.Fprintf(stderr, "cunbo-review %s: %v\n", name, err)
		return code
	}
}
