package userdb

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fakeDB is a DB of files written here and a getent script that knows
// one user, ldapuser (uid 5000, gid 5000, also in group 6000), and one
// group, ldapgroup (gid 6000), as NSS would answer for accounts that are
// not in the files.
func fakeDB(t *testing.T) DB {
	t.Helper()
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return DB{
		Passwd: write("passwd", "# comment\nroot:x:0:0:root:/root:/bin/sh\n"+
			"web:x:1001:1001:Web:/srv/web:/bin/false\n"+
			"+nisuser::::::\n"+
			"2002:x:2003:2003::/:/bin/false\n"+ // a name that is another's number
			"short:x:1\n", 0o644),
		Group: write("group", "root:x:0:\nweb:x:1001:\nssl-cert:x:110:postgres,web\n"+
			"docker:x:999:alice,web,bob\nldapusers:x:7000:ldapuser\n", 0o644),
		Getent: write("getent", `#!/bin/sh
case "$1 $2" in
"passwd ldapuser"|"passwd 5000") echo "ldapuser:*:5000:5000:LDAP:/home/ldapuser:/bin/sh" ;;
"group ldapgroup"|"group 6000") echo "ldapgroup:*:6000:ldapuser" ;;
"initgroups ldapuser") echo "ldapuser              5000 6000" ;;
"passwd broken") echo "broken:x" ;;
"passwd emptygroups") echo "emptygroups:*:5001:5001::/:/bin/sh" ;;
"initgroups emptygroups") ;; # exit 0, nothing said
"passwd 9223372036854775808") echo "root:x:0:0:root:/root:/bin/sh" ;; # glibc wraps it round
"passwd other") echo "ldapuser:*:5000:5000:LDAP:/home/ldapuser:/bin/sh" ;; # not the one asked for
"passwd --"|"passwd -i"|"group --") echo "root:x:0:0:root:/root:/bin/sh" ;; # an option, and a listing
*) exit 2 ;;
esac
`, 0o755),
	}
}

func TestLookupUser(t *testing.T) {
	db := fakeDB(t)
	for _, tc := range []struct {
		in   string
		want User
	}{
		{"web", User{Name: "web", UID: 1001, GID: 1001}},
		{"1001", User{Name: "web", UID: 1001, GID: 1001}}, // by number
		{"0", User{Name: "root"}},
		{"2002", User{Name: "2002", UID: 2003, GID: 2003}}, // the name first
		{"ldapuser", User{Name: "ldapuser", UID: 5000, GID: 5000, viaNSS: true}},
		{"5000", User{Name: "ldapuser", UID: 5000, GID: 5000, viaNSS: true}},
	} {
		got, err := db.LookupUser(tc.in)
		if err != nil {
			t.Errorf("LookupUser(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(User{})); diff != "" {
			t.Errorf("LookupUser(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	// Never root by accident: what getent would take for an option, a
	// number it wraps round, an answer about another account, a NUL (which
	// C would cut the name at), a negative id.
	for _, in := range []string{"nobody-here", "4242", "", "web:x", "short", "+nisuser", "broken",
		"--", "-i", "-0", "-1", "9223372036854775808", "other", "root\x00", "web\x00x"} {
		u, err := db.LookupUser(in)
		if !errors.Is(err, ErrUnknown) {
			t.Errorf("LookupUser(%q) = %+v, %v; want ErrUnknown", in, u, err)
		}
		if errors.Is(err, ErrGetent) {
			t.Errorf("LookupUser(%q): %v; getent did not fail, the user is unknown", in, err)
		}
	}
}

func TestLookupGroup(t *testing.T) {
	db := fakeDB(t)
	for in, want := range map[string]uint32{"ssl-cert": 110, "110": 110, "root": 0, "ldapgroup": 6000, "6000": 6000} {
		if got, err := db.LookupGroup(in); err != nil || got != want {
			t.Errorf("LookupGroup(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"no-such-group", "--", "-0", "ssl-cert\x00"} {
		if g, err := db.LookupGroup(in); !errors.Is(err, ErrUnknown) {
			t.Errorf("LookupGroup(%q) = %d, %v; want ErrUnknown", in, g, err)
		}
	}
}

func TestGroups(t *testing.T) {
	db := fakeDB(t)
	web, _ := db.LookupUser("web")
	sorted := cmpopts.SortSlices(func(a, b uint32) bool { return a < b })
	if diff := cmp.Diff([]uint32{110, 999}, db.Groups(web), sorted); diff != "" {
		t.Errorf("Groups(web) (-want +got):\n%s", diff)
	}
	ldap, _ := db.LookupUser("ldapuser")
	if diff := cmp.Diff([]uint32{6000, 7000}, db.Groups(ldap), sorted); diff != "" {
		t.Errorf("Groups(ldapuser) from the file and getent (-want +got):\n%s", diff)
	}
	empty, err := db.LookupUser("emptygroups")
	if err != nil {
		t.Fatal(err)
	}
	if got := db.Groups(empty); len(got) != 0 {
		t.Errorf("Groups(emptygroups), getent initgroups saying nothing = %v, want none", got)
	}
	root, _ := db.LookupUser("root")
	if got := db.Groups(root); len(got) != 0 {
		t.Errorf("Groups(root) = %v, want none", got)
	}
}

// Without getent (or with one that cannot run), a name not in the files
// is unknown, and the error says why.
func TestNoGetent(t *testing.T) {
	db := fakeDB(t)
	db.Getent = ""
	if _, err := db.LookupUser("ldapuser"); !errors.Is(err, ErrUnknown) {
		t.Errorf("LookupUser without getent: %v, want ErrUnknown", err)
	}
	db.Getent = filepath.Join(t.TempDir(), "missing-getent")
	_, err := db.LookupUser("ldapuser")
	if !errors.Is(err, ErrUnknown) || !errors.Is(err, ErrGetent) || !strings.Contains(err.Error(), "getent passwd") {
		t.Errorf("LookupUser with a missing getent: %v, want ErrUnknown and ErrGetent saying why", err)
	}
}

// On this machine, the answers are those of os/user (with cgo, libc's
// NSS) for the accounts the files have.
func TestSystemAgreesWithOSUser(t *testing.T) {
	for _, name := range []string{"root", "nobody", "postgres", "www-data"} {
		want, err := user.Lookup(name)
		if err != nil {
			continue
		}
		got, err := System.LookupUser(name)
		if err != nil {
			t.Errorf("LookupUser(%q): %v", name, err)
			continue
		}
		if strconv.Itoa(int(got.UID)) != want.Uid || strconv.Itoa(int(got.GID)) != want.Gid {
			t.Errorf("LookupUser(%q) = %+v, os/user says uid %s gid %s", name, got, want.Uid, want.Gid)
		}
		ids, err := want.GroupIds()
		if err != nil {
			continue
		}
		var wantGroups []uint32
		for _, id := range ids {
			if g, _ := strconv.ParseUint(id, 10, 32); uint32(g) != got.GID {
				wantGroups = append(wantGroups, uint32(g))
			}
		}
		sorted := cmpopts.SortSlices(func(a, b uint32) bool { return a < b })
		if diff := cmp.Diff(wantGroups, System.Groups(got), sorted, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Groups(%s) against os/user (-want +got):\n%s", name, diff)
		}
	}
}
