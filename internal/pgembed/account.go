package pgembed

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
)

// serverUser is the account that runs PostgreSQL when the caller is root.
const serverUser = "postgres"

// account is the unprivileged OS account that runs initdb and the server when
// the caller is root. A nil *account stands for the caller's own account.
type account struct {
	uid, gid uint32
	groups   []uint32
}

// serverAccount returns nil when the caller is not root, and the postgres
// account when it is.
func serverAccount() (*account, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(serverUser)
	if err != nil {
		return nil, fmt.Errorf("pgembed: PostgreSQL refuses to run as root and there is no %q account to run it as (%w): "+
			"install the postgresql package (it creates the account) or run as an unprivileged user", serverUser, err)
	}
	a := &account{}
	if a.uid, err = parseID(u.Uid); err != nil {
		return nil, err
	}
	if a.gid, err = parseID(u.Gid); err != nil {
		return nil, err
	}
	gids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("pgembed: groups of %q: %w", serverUser, err)
	}
	for _, g := range gids {
		id, err := parseID(g)
		if err != nil {
			return nil, err
		}
		a.groups = append(a.groups, id)
	}
	return a, nil
}

func parseID(s string) (uint32, error) {
	id, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("pgembed: account id %q: %w", s, err)
	}
	return uint32(id), nil
}

// credential is what exec runs a command as: nil means the caller.
func (a *account) credential() *syscall.Credential {
	if a == nil {
		return nil
	}
	return &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}
}

// chown gives path to the account.
func (a *account) chown(path string) error {
	if a == nil {
		return nil
	}
	if err := os.Chown(path, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("pgembed: give %s to the %s account: %w", path, serverUser, err)
	}
	return nil
}

// checkReach reports an error unless the account may search every parent of
// dataDir. A directory made by os.MkdirTemp (mode 0700, owned by root), such
// as the parent of a Go test's t.TempDir(), is a common culprit.
func (a *account) checkReach(dataDir string) error {
	if a == nil {
		return nil
	}
	for dir := filepath.Dir(dataDir); ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("pgembed: %w", err)
		}
		if !a.canSearch(fi) {
			return fmt.Errorf("pgembed: PostgreSQL runs as the %q account because it refuses to run as root, "+
				"and that account cannot reach the data dir %s: %s has mode %v. "+
				"Use a data dir whose parent directories others may search (e.g. under /var/lib or /tmp), or `chmod o+x %s`",
				serverUser, dataDir, dir, fi.Mode().Perm(), dir)
		}
		if dir == filepath.Dir(dir) {
			return nil
		}
	}
}

// canSearch applies the owner, group and other execute bits of fi as the
// kernel would for the account.
func (a *account) canSearch(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true // cannot tell; let PostgreSQL report it
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == a.uid:
		return perm&0o100 != 0
	case st.Gid == a.gid || slices.Contains(a.groups, st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}
