package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cunbo/cunbo/review/accounts"
	"github.com/cunbo/cunbo/review/store"
)

// roleList is a repeatable --role flag (also comma-separated).
type roleList []string

func (r *roleList) String() string { return strings.Join(*r, ",") }

func (r *roleList) Set(v string) error {
	for _, x := range strings.Split(v, ",") {
		switch x = strings.TrimSpace(x); x {
		case store.RoleSocial, store.RoleTrainer, store.RoleAdmin:
			if !containsString(*r, x) {
				*r = append(*r, x)
			}
		default:
			return fmt.Errorf("unknown role %q (social, trainer, admin)", x)
		}
	}
	return nil
}

func containsString(s []string, x string) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

func runUserAdd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return userAdd(ctx, args, os.Stdin, stdout, stderr)
}

// userAdd adds a console user. The password is read from stdin (one line)
// with --password-stdin, so it never shows in the process list or shell
// history; otherwise one is generated and printed once.
func userAdd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	var sf storeFlags
	sf.register(fs)
	var roles roleList
	fs.Var(&roles, "role", "social (her caseload's clips), trainer (boxes, catalogues, rule packs) or admin (accounts); repeat for more")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin instead of generating one")
	if code, ok := parse(fs, args, 1, stderr); !ok {
		return code
	}
	name := strings.TrimSpace(fs.Arg(0))
	if name == "" || utf8.RuneCountInString(name) > 64 || strings.ContainsAny(name, "\r\n\t") {
		fmt.Fprintln(stderr, "cunbo-review user add: the name must be 1 to 64 characters on one line")
		return 2
	}
	if len(roles) == 0 {
		fmt.Fprintln(stderr, "cunbo-review user add: give at least one --role (social, trainer, admin)")
		return 2
	}
	pw := accounts.NewPassword()
	if *fromStdin {
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			fmt.Fprintf(stderr, "cunbo-review user add: read password: %v\n", err)
			return 1
		}
		pw = strings.TrimRight(line, "\r\n")
		if err := accounts.CheckPassword(pw); err != nil {
			fmt.Fprintf(stderr, "cunbo-review user add: %v\n", err)
			return 2
		}
	}
	hash, err := accounts.Hash(pw)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo-review user add: %v\n", err)
		return 1
	}
	st, err := sf.open(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "cunbo-review user add: %v\n", err)
		return 1
	}
	defer st.Close()
	now := time.Now()
	u := store.User{Name: name, Roles: roles, Hash: hash, Created: now}
	audit := store.AuditEntry{At: now, Actor: "cli", Action: "user.add", Subject: name, Detail: "roles=" + roles.String()}
	if err := st.AddUser(ctx, u, audit); err != nil {
		if errors.Is(err, store.ErrExists) {
			fmt.Fprintf(stderr, "cunbo-review user add: %s already exists\n", name)
			return 1
		}
		fmt.Fprintf(stderr, "cunbo-review user add: %v\n", err)
		return 1
	}
	if *fromStdin {
		fmt.Fprintf(stdout, "added %s (%s)\n", name, roles.String())
	} else {
		fmt.Fprintf(stdout, "added %s (%s)\npassword: %s\n", name, roles.String(), pw)
	}
	return 0
}
