package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/internal/app"
	"github.com/riskreg/riskreg/relay"
)

// publishFlags is the repeatable --publish flag: broker URLs to relay the
// event log to.
type publishFlags struct {
	urls    []string
	fromEnv bool   // urls came from RISKREG_PUBLISH
	source  string // --source-id
}

func (p *publishFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.Var(p, "publish", "relay the event log to the broker at `URL`: nats://host:4222, amqp://user:pass@host:5672/, "+
		"postgres://... (a broker database, not riskreg's) or gochannel:; repeatable, one relay per URL "+
		"(env RISKREG_PUBLISH, URLs separated by spaces, used when no --publish is given)")
	if env := getenv("RISKREG_PUBLISH"); env != "" {
		p.urls, p.fromEnv = strings.Fields(env), true
	}
	fs.StringVar(&p.source, "source-id", envOr(getenv, "RISKREG_SOURCE_ID", defaultSourceID()),
		"`name` of this riskreg instance in every published event's envelope (source), to tell registers that share a broker apart (env RISKREG_SOURCE_ID)")
}

// defaultSourceID is "riskreg@" and the host name, or "riskreg" without one.
func defaultSourceID() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return "riskreg@" + h
	}
	return "riskreg"
}

// String implements flag.Value without the URLs, which may hold passwords.
func (p *publishFlags) String() string {
	if p == nil || len(p.urls) == 0 {
		return ""
	}
	return fmt.Sprintf("%d broker URLs", len(p.urls))
}

// Set implements flag.Value. The first --publish replaces the URLs that
// came from the environment.
func (p *publishFlags) Set(v string) error {
	if v == "" {
		return errors.New("empty URL")
	}
	if p.fromEnv {
		p.urls, p.fromEnv = nil, false
	}
	p.urls = append(p.urls, v)
	return nil
}

// relays runs one relay per broker URL.
type relays struct {
	pubs   []*relay.Publisher
	relays []*relay.Relay
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startRelays starts a relay to each URL; they run until ctx ends or stop is
// called. A malformed URL, or two URLs for one target, is an error.
func startRelays(ctx context.Context, store *eventstore.Store, urls []string, source string, logger *slog.Logger) (*relays, error) {
	rs := &relays{}
	if len(urls) == 0 {
		return rs, nil
	}
	names := map[string]bool{}
	for _, u := range urls {
		pub, err := relay.NewPublisher(ctx, u, logger)
		if err != nil {
			rs.close()
			return nil, err
		}
		rs.pubs = append(rs.pubs, pub)
		if names[pub.Name()] {
			rs.close()
			return nil, fmt.Errorf("two --publish URLs name the same target %s", pub)
		}
		names[pub.Name()] = true
		// The log's signed checkpoints go to the same broker, apart from
		// the events (docs/events.md).
		cpub, topic := pub.CheckpointPublisher(ctx)
		rs.pubs = append(rs.pubs, cpub)
		r, err := relay.New(store, pub, relay.Config{Name: pub.Name(), Target: pub.String(), Topic: pub.Topic, Logger: logger, Source: source,
			Checkpoints: &relay.CheckpointTarget{Publisher: cpub, Topic: topic}})
		if err != nil {
			rs.close()
			return nil, err
		}
		rs.relays = append(rs.relays, r)
	}
	ctx, rs.cancel = context.WithCancel(ctx)
	for _, r := range rs.relays {
		rs.wg.Go(func() {
			if err := r.Run(ctx); err != nil {
				logger.Error("relay stopped", "relay", r.Name(), "err", err)
			}
		})
		logger.Info("relay started", "relay", r.Name())
	}
	return rs, nil
}

// Statuses returns the status of every relay, for the API.
func (rs *relays) Statuses() []relay.Status {
	out := make([]relay.Status, len(rs.relays))
	for i, r := range rs.relays {
		out[i] = r.Status()
	}
	return out
}

// Collector returns the relays' Prometheus metrics.
func (rs *relays) Collector() prometheus.Collector { return relay.NewCollector(rs.relays...) }

// stop stops the relays and waits for them.
func (rs *relays) stop() {
	if rs.cancel != nil {
		rs.cancel()
	}
	rs.wg.Wait()
	rs.close()
}

func (rs *relays) close() {
	for _, p := range rs.pubs {
		_ = p.Close()
	}
}

// runRelay runs "riskreg relay --publish URL ...": the relays alone, without
// the API, for example in a process of their own next to several riskreg
// serve processes. Each relay publishes from one process at a time.
func runRelay(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, logger *slog.Logger) error {
	fs := newFlagSet("relay --publish URL [--publish URL ...] [flags]", stderr)
	var db dbFlags
	db.register(fs, getenv)
	var publish publishFlags
	publish.register(fs, getenv)
	metricsAddr := fs.String("metrics-addr", "",
		"serve /metrics and /healthz on `host:port`; empty: no HTTP")
	positional, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(positional) > 0 {
		return usageErrorf(fs, "relay takes no arguments, got %q", positional)
	}
	if len(publish.urls) == 0 {
		return usageErrorf(fs, "relay needs at least one --publish URL")
	}
	for _, u := range publish.urls {
		if err := relay.CheckURL(u); err != nil {
			return usageErrorf(fs, "%v", err)
		}
	}
	return withDatabase(ctx, db, logger, func(url string) error {
		pool, err := openMigrated(ctx, url, 0)
		if err != nil {
			return err
		}
		defer pool.Close()
		store, err := app.NewStore(pool, eventstore.Config{Logger: logger})
		if err != nil {
			return err
		}
		defer store.Close()
		rs, err := startRelays(ctx, store, publish.urls, publish.source, logger)
		if err != nil {
			return err
		}
		defer rs.stop()
		if *metricsAddr == "" {
			<-ctx.Done()
			return nil
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), rs.Collector())
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
		return serveHTTP(ctx, *metricsAddr, mux, shutdown{timeout: 5 * time.Second}, logger)
	})
}
