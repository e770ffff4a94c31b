// Package userdb resolves a daemon's user and group (Spec.User, Spec.Group,
// the config's user and group) to ids without cgo: /etc/passwd and
// /etc/group first, then getent(1) for a name they do not have.
//
// Why not os/user: with cgo it links the program dynamically, and loading
// libc cost every CLI command about a millisecond (2.5 ms against 1.6 for
// `launcher version`), in a program that needs the user database only for
// the daemons that name a user. Without cgo, os/user reads only the files,
// and accounts from NSS (LDAP, sssd, systemd-userdb) are not found; getent
// finds them, through the same NSS that libc would use, at the cost of a
// process only for a name not in the files.
//
// Nothing here is cached; callers resolve an account once (at New, or
// when a config is read). Safe for concurrent use.
package userdb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrUnknown: no such user or group, by name or number.
var ErrUnknown = errors.New("unknown")

// ErrGetent: getent could not say (it could not run, or failed); the
// error wraps ErrUnknown too.
var ErrGetent = errors.New("getent failed")

// User is an account: its name, uid and primary gid.
type User struct {
	Name     string
	UID, GID uint32
	viaNSS   bool // found by getent, not in the passwd file
}

// DB is where accounts are looked up. System is this machine's.
type DB struct {
	Passwd, Group string // the files, read first
	Getent        string // the getent program, for names not in them; "" for none
}

// System is the machine's user database.
var System = DB{Passwd: "/etc/passwd", Group: "/etc/group", Getent: "getent"}

// getentTimeout bounds a getent run: NSS may ask a network service.
const getentTimeout = 5 * time.Second

// LookupUser finds the user s, by name, else (s a number) by uid. An
// error wraps ErrUnknown when there is no such user.
func (db DB) LookupUser(s string) (User, error) {
	f, err := db.find(db.Passwd, "passwd", s, 7)
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", s, err)
	}
	uid, err1 := strconv.ParseUint(f.fields[2], 10, 32)
	gid, err2 := strconv.ParseUint(f.fields[3], 10, 32)
	if err1 != nil || err2 != nil {
		return User{}, fmt.Errorf("user %q: bad entry %q", s, strings.Join(f.fields, ":"))
	}
	return User{Name: f.fields[0], UID: uint32(uid), GID: uint32(gid), viaNSS: f.viaNSS}, nil
}

// LookupGroup finds the group s, by name, else (s a number) by gid, and
// returns its gid. An error wraps ErrUnknown when there is no such group.
func (db DB) LookupGroup(s string) (uint32, error) {
	f, err := db.find(db.Group, "group", s, 4)
	if err != nil {
		return 0, fmt.Errorf("group %q: %w", s, err)
	}
	gid, err := strconv.ParseUint(f.fields[2], 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q: bad entry %q", s, strings.Join(f.fields, ":"))
	}
	return uint32(gid), nil
}

// Groups returns u's supplementary groups, as login and systemd give
// them, without u.GID: the groups of the group file that list u, and for
// a user from NSS those getent's initgroups says (where getent has it).
func (db DB) Groups(u User) []uint32 {
	var out []uint32
	add := func(g uint32) {
		if g != u.GID && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	if b, err := os.ReadFile(db.Group); err == nil {
		for line := range bytes.Lines(b) {
			f := strings.Split(strings.TrimRight(string(line), "\n"), ":")
			if len(f) < 4 || strings.HasPrefix(f[0], "#") {
				continue
			}
			for _, m := range strings.Split(f[3], ",") {
				if m == u.Name {
					if g, err := strconv.ParseUint(f[2], 10, 32); err == nil {
						add(uint32(g))
					}
					break
				}
			}
		}
	}
	if u.viaNSS && db.Getent != "" && !strings.HasPrefix(u.Name, "-") {
		// "name gid gid ...": initgroups is glibc's getent; elsewhere it
		// fails, and the group file's memberships are what there is.
		if out2, err := db.getent("initgroups", u.Name); err == nil {
			if f := strings.Fields(out2); len(f) > 1 && f[0] == u.Name {
				for _, tok := range f[1:] {
					if g, err := strconv.ParseUint(tok, 10, 32); err == nil {
						add(uint32(g))
					}
				}
			}
		}
	}
	return out
}

// entry is one line of a passwd or group file, split at the colons.
type entry struct {
	fields []string
	viaNSS bool
}

// find returns the entry of file (the getent database db) whose name is
// s, else whose id (third field) is s. want is the number of fields.
//
// No name starts with "-" (nor is a negative number an id): such an s is
// unknown, and never reaches getent, which would take it for an option
// ("--" alone made it list every account, root first). And whatever getent
// answers must be the entry asked for, by name or by id written as s
// is (it wraps 9223372036854775808 round to 0).
func (db DB) find(file, database, s string, want int) (entry, error) {
	if s == "" || strings.HasPrefix(s, "-") || strings.ContainsAny(s, ":\n\x00") {
		return entry{}, ErrUnknown
	}
	_, numErr := strconv.ParseUint(s, 10, 32)
	var byID []string
	if b, err := os.ReadFile(file); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			f := strings.Split(sc.Text(), ":")
			if len(f) < want || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], "+") || strings.HasPrefix(f[0], "-") {
				continue // comments, and NIS compat lines: getent's part
			}
			if f[0] == s {
				return entry{fields: f}, nil
			}
			if numErr == nil && byID == nil && f[2] == s {
				byID = f
			}
		}
	}
	if byID != nil {
		return entry{fields: byID}, nil
	}
	if db.Getent == "" {
		return entry{}, ErrUnknown
	}
	out, err := db.getent(database, s)
	if err != nil {
		return entry{}, err
	}
	f := strings.Split(strings.TrimSpace(strings.SplitN(out, "\n", 2)[0]), ":")
	if len(f) < want || f[0] != s && (numErr != nil || f[2] != s) {
		return entry{}, ErrUnknown
	}
	return entry{fields: f, viaNSS: true}, nil
}

// getent runs getent database key. Exit status 2 is "not found":
// ErrUnknown; a getent that cannot run is ErrUnknown too, with why.
func (db DB) getent(database, key string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), getentTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, db.Getent, database, key)
	cmd.Env = []string{"LC_ALL=C"}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 2 {
			return "", ErrUnknown
		}
		return "", fmt.Errorf("%w, %w (getent %s: %v)", ErrUnknown, ErrGetent, database, err)
	}
	return string(out), nil
}
