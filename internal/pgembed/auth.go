package pgembed

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// passwordName is the file in the data directory that holds the superuser's
// password, readable by the account that runs the server (and root) only.
const passwordName = "riskreg.password"

// hbaConf accepts only password (SCRAM) logins, over loopback TCP: the
// server has no Unix socket, so other local users get no peer or trust way
// in, and without the password they cannot log in as the superuser.
const hbaConf = `# Written by riskreg (internal/pgembed): loopback TCP only, password required.
# TYPE  DATABASE  USER  ADDRESS       METHOD
host    all       all   127.0.0.1/32  scram-sha-256
host    all       all   ::1/128       scram-sha-256
`

// secure makes the cluster in cfg.DataDir require a password, unless it
// does already (it has the password file): it gives the superuser a new
// random password in single-user mode, writes pg_hba.conf and saves the
// password for the processes that connect. Clusters made before riskreg
// required passwords (trust authentication) are secured on their next start.
//
// A Throwaway cluster (a test's) keeps trust authentication on loopback TCP:
// it holds nothing worth protecting, and a SCRAM login costs a test under
// the race detector tens of milliseconds per connection.
func secure(ctx context.Context, cfg Config, acct *account) error {
	if cfg.Throwaway {
		return nil
	}
	path := filepath.Join(cfg.DataDir, passwordName)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("pgembed: new password: %w", err)
	}
	password := hex.EncodeToString(raw)

	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.BinDir, "postgres"), "--single", "-D", cfg.DataDir,
		"-c", "password_encryption=scram-sha-256", "postgres")
	cmd.Dir = cfg.DataDir
	cmd.Stdin = strings.NewReader("ALTER ROLE " + superuser + " PASSWORD '" + password + "'\n")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: acct.credential()}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgembed: set the superuser's password: %w:\n%s", err, lastLines(out.String(), logTailLines))
	}
	if strings.Contains(out.String(), "ERROR:") {
		return fmt.Errorf("pgembed: set the superuser's password:\n%s", lastLines(out.String(), logTailLines))
	}
	if err := writePrivate(filepath.Join(cfg.DataDir, "pg_hba.conf"), hbaConf, acct); err != nil {
		return err
	}
	return writePrivate(path, password+"\n", acct)
}

// writePrivate writes a file of mode 0600 owned by acct, atomically.
func writePrivate(path, content string, acct *account) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgembed: write %s: %w", path, err)
	}
	if err := acct.chown(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("pgembed: write %s: %w", path, err)
	}
	return nil
}

// readPassword returns the superuser's password saved in dataDir, or ""
// for a cluster that has none yet (one a riskreg without passwords runs).
func readPassword(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, passwordName))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("pgembed: read the superuser's password: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
