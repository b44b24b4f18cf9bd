package projection

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports the status of every projection to Prometheus, read from
// the database at each scrape, so that it shows the runners of every process:
// riskreg_projection_lag_events, riskreg_projection_lag_seconds,
// riskreg_projection_failing (1 while stopped at a failing event) and
// riskreg_projection_live (1 while a runner follows the log live).
type Collector struct {
	pool                          *pgxpool.Pool
	lagEvents, lagSeconds         *prometheus.Desc
	failing, live, scrapeFailures *prometheus.Desc
}

// NewCollector returns a Collector over pool; register it with a
// prometheus.Registry.
func NewCollector(pool *pgxpool.Pool) *Collector {
	label := []string{"projection"}
	return &Collector{
		pool:           pool,
		lagEvents:      prometheus.NewDesc("riskreg_projection_lag_events", "Events in the log that the projection has not applied yet.", label, nil),
		lagSeconds:     prometheus.NewDesc("riskreg_projection_lag_seconds", "How long ago the first event the projection has not applied was recorded.", label, nil),
		failing:        prometheus.NewDesc("riskreg_projection_failing", "1 while the projection is stopped at an event it cannot apply.", label, nil),
		live:           prometheus.NewDesc("riskreg_projection_live", "1 while a runner applies each new event as it is committed.", label, nil),
		scrapeFailures: prometheus.NewDesc("riskreg_projection_status_up", "1 when the projections' status could be read.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lagEvents, c.lagSeconds, c.failing, c.live, c.scrapeFailures} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	statuses, err := ReadStatus(ctx, c.pool)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.scrapeFailures, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.scrapeFailures, prometheus.GaugeValue, 1)
	flag := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, s := range statuses {
		ch <- prometheus.MustNewConstMetric(c.lagEvents, prometheus.GaugeValue, float64(s.LagEvents), s.Name)
		ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, s.Lag.Seconds(), s.Name)
		ch <- prometheus.MustNewConstMetric(c.failing, prometheus.GaugeValue, flag(s.State == StateFailing), s.Name)
		ch <- prometheus.MustNewConstMetric(c.live, prometheus.GaugeValue, flag(s.State == StateLive), s.Name)
	}
}
