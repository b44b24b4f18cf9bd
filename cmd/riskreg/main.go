// Command riskreg runs the riskreg audit risk register: an event-sourced
// record of the risks an audit plan flags, the responses to them and the
// governance decisions taken on them.
//
// Usage:
//
//	riskreg serve [flags]                      run the server
//	riskreg migrate up | down N | version [flags]   manage the database schema
//	riskreg verify [--stream ID] [flags]       check the event log's hash chain
//	riskreg replay --projection NAME | --all [flags]   rebuild read models from the log
//	riskreg token create | list | revoke [flags]   manage the API's bearer tokens
//	riskreg relay --publish URL [flags]        relay the event log to message brokers
//	riskreg consume --from URL [flags]         print the events a broker carries
//	riskreg paper --session ID --format F --out FILE   write a session's paper
//	riskreg import --file FILE [--dry-run] [flags]    import risks from a spreadsheet
//	riskreg keys generate --out DIR            make the checkpoints' signing key
//	riskreg integrate [flags]                  grow and sign the Merkle log
//	riskreg audit export | verify [flags]      offline evidence bundles
//	riskreg witness --log URL [flags]          watch and cosign a log's checkpoints
//	riskreg help                               show this help
//
// Run a subcommand with -h for its flags. riskreg uses the PostgreSQL database
// that --database-url (or DATABASE_URL) names; without one, it runs a private
// PostgreSQL from the server binaries installed on the machine, with its data
// in --data-dir (default ./riskreg-data).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usageText = `riskreg is an event-sourced audit risk register.

Usage:
  riskreg <command> [arguments] [flags]

Commands:
  serve                        run the HTTP server (/graphql, /metrics, /healthz, /readyz)
  migrate up                   apply all pending schema migrations
  migrate down N               roll back the last N migrations
  migrate version              print the current schema version
  verify [--stream ID] [--checkpoint FILE... --verifier-key PUB]
                               check the event log's hash chain and Merkle log; exit 1 if it was edited
  replay --projection NAME[,NAME...] | --all
                               rebuild read models from the event log and swap them in (serve keeps serving)
  token create --subject NAME --role ROLE [--role ROLE ...] [--expires 30d|720h|never]
                               issue an API bearer token (valid 90 days by default) and print it
  token list                   list the tokens (never the tokens themselves)
  token revoke ID              revoke a token at once
  relay --publish URL [--publish URL ...]
                               relay the event log to message brokers (serve does too, with --publish)
  consume --from URL           print the events a broker carries, once each (an example consumer)
  paper --session ID --format xlsx|pdf|csv --out FILE
                               write a session's paper (summary, heat maps, movement, tabled items, decisions)
  import --file FILE.xlsx|FILE.csv [--sheet NAME] [--map column=field ...] [--dry-run] [--partial]
                               register and assess one risk per row (nothing written while a row is bad)
  keys generate --out DIR      make the Ed25519 key that signs the log's checkpoints (riskreg.key, riskreg.pub)
  integrate [--signing-key FILE]
                               grow and sign the Merkle log over the events (serve does too)
  audit export --out FILE [--since-checkpoint FILE] [--stream ID]...
                               write an offline evidence bundle of the log up to its latest checkpoint
  audit verify FILE --verifier-key PUB [--checkpoint FILE]
                               check a bundle with no database; exit 1 on any changed byte
  witness --log URL --verifier-key PUB --state DIR [--signing-key FILE] [--once]
                               follow a log's checkpoints, cosign consistent ones, refuse a rewritten history
  help                         show this help

Run "riskreg <command> -h" for a command's flags. Without --database-url
(or DATABASE_URL), riskreg runs its own PostgreSQL in --data-dir
(default ./riskreg-data, env RISKREG_DATA_DIR) from the PostgreSQL server
binaries installed on the machine.
`

// errUsage reports a command line that riskreg does not understand; the
// usage has already been printed.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal ends the process at once
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		os.Exit(1)
	}
}

// run runs the subcommand that args name. It logs (JSON, to stderr) every
// error it returns other than usage errors.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return errUsage
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], getenv, stderr, logger)
	case "migrate":
		err = runMigrate(ctx, args[1:], getenv, stdout, stderr, logger)
	case "verify":
		err = runVerify(ctx, args[1:], getenv, stdout, stderr, logger)
	case "replay":
		err = runReplay(ctx, args[1:], getenv, stdout, stderr, logger)
	case "token":
		err = runToken(ctx, args[1:], getenv, stdout, stderr, logger)
	case "relay":
		err = runRelay(ctx, args[1:], getenv, stderr, logger)
	case "consume":
		err = runConsume(ctx, args[1:], getenv, stdout, stderr, logger)
	case "paper":
		err = runPaper(ctx, args[1:], getenv, stdout, stderr, logger)
	case "import":
		err = runImport(ctx, args[1:], getenv, stdout, stderr, logger)
	case "keys":
		err = runKeys(args[1:], stdout, stderr)
	case "integrate":
		err = runIntegrate(ctx, args[1:], getenv, stderr, logger)
	case "audit":
		err = runAudit(ctx, args[1:], getenv, stdout, stderr, logger)
	case "witness":
		err = runWitness(ctx, args[1:], stderr, logger)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageText)
	default:
		fmt.Fprintf(stderr, "riskreg: unknown command %q\n\n%s", args[0], usageText)
		return errUsage
	}
	if err != nil && !errors.Is(err, errUsage) && !errors.Is(err, flag.ErrHelp) {
		logger.Error("riskreg "+args[0]+" failed", "err", err)
	}
	return err
}

// newFlagSet returns a flag set for a subcommand whose usage line is synopsis.
func newFlagSet(synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("riskreg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: riskreg %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseArgs parses fs's flags wherever they stand among args, so that both
// "migrate up --database-url U" and "migrate --database-url U up" work, and
// returns the other arguments in order. A bad flag is a usage error.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// usageErrorf prints a usage error with fs's usage and returns errUsage.
func usageErrorf(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "riskreg: "+format+"\n", args...)
	fs.Usage()
	return errUsage
}

// envOr returns the environment variable key, or def when it is empty.
func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}
