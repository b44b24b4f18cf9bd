package main

import (
	"context"
	"encoding/base64"
	"flag"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/riskreg/riskreg/auth"
	"github.com/riskreg/riskreg/console"
	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
	"github.com/riskreg/riskreg/graph"
	"github.com/riskreg/riskreg/papers"
	"github.com/riskreg/riskreg/projection"
	"github.com/riskreg/riskreg/register"
	"github.com/riskreg/riskreg/transparency"
)

// apiFlags configure the GraphQL API of riskreg serve.
type apiFlags struct {
	noIntrospection bool
	corsOrigins     string
	ws              wsFlags
	reviewPolicy    domain.ReviewPolicy // from the calendar's flags
}

func (f *apiFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&f.noIntrospection, "no-introspection", false,
		"turn GraphQL introspection off (it is on for authenticated callers by default)")
	fs.StringVar(&f.corsOrigins, "cors-origins", "",
		"comma-separated browser `origins` (host patterns) allowed to call /graphql across origins; empty: none")
	f.ws.register(fs)
}

// newAPIHandler serves /graphql, /metrics and the web console (at /) next
// to base (the health routes), on store. When ctx ends, every websocket is closed with a close
// frame (the HTTP server's shutdown does not wait for them).
// Further collectors (the relays') join the API's metrics.
func newAPIHandler(ctx context.Context, store *eventstore.Store, f apiFlags, base http.Handler, logger *slog.Logger, more ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(more...)
	var origins []string
	for o := range strings.SplitSeq(f.corsOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	commands, reader, tokens := register.New(store, time.Now), projection.NewReader(store), auth.NewStore(store.Pool(), time.Now)
	opts := graph.Options{
		Register:             commands,
		Store:                store,
		Reader:               reader,
		Tokens:               tokens,
		Logger:               logger,
		Metrics:              graph.NewMetrics(reg),
		DisableIntrospection: f.noIntrospection,
		AllowedOrigins:       origins,
		ReviewPolicy:         f.reviewPolicy,
	}
	f.ws.apply(&opts)
	api := graph.NewServer(opts)
	context.AfterFunc(ctx, api.CloseSubscriptions)
	tlog := transparency.NewLog(store)
	mux := http.NewServeMux()
	mux.Handle("/healthz", base)
	mux.Handle("/readyz", base)
	mux.Handle("/graphql", api)
	mux.Handle("/graphql/", api) // the explorer's files
	cons := console.New(console.Options{Register: commands, Store: store, Reader: reader, Tokens: tokens, Logger: logger,
		LatestCheckpoint: latestCheckpoint(tlog)})
	mux.Handle("/", cons)
	mux.Handle("GET /papers/{file}", papers.NewHandler(&papers.Builder{Store: store, Reader: reader, Register: commands,
		Checkpoint: paperCheckpoint(tlog)},
		papers.Either(papers.Bearer(tokens), cons.Principal), logger))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// latestCheckpoint gives the console the log's latest signed checkpoint.
func latestCheckpoint(log *transparency.Log) func(context.Context) (console.Checkpoint, bool, error) {
	return func(ctx context.Context) (console.Checkpoint, bool, error) {
		c, err := log.LatestCheckpoint(ctx)
		if err != nil || c == nil {
			return console.Checkpoint{}, false, err
		}
		return console.Checkpoint{Size: int64(c.Size), RootHash: base64.StdEncoding.EncodeToString(c.Root),
			SignedAt: c.SignedAt, Note: string(c.Note)}, true, nil
	}
}

// paperCheckpoint names in a paper the signed checkpoint that covers the
// log position the paper was made from.
func paperCheckpoint(log *transparency.Log) papers.CheckpointFunc {
	return func(ctx context.Context, pos eventstore.Position) (string, error) {
		c, err := log.CheckpointCovering(ctx, pos)
		if err != nil || c == nil {
			return "", err
		}
		return string(c.Note), nil
	}
}
