package relay

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes the status of relays as Prometheus metrics, labelled by
// relay name and target. The caller registers it on its own registry:
//
//	reg.MustRegister(relay.NewCollector(relays...))
type Collector struct {
	relays []*Relay

	lagEvents  *prometheus.Desc
	lagSeconds *prometheus.Desc
	published  *prometheus.Desc
	failures   *prometheus.Desc
	active     *prometheus.Desc
}

// NewCollector returns a collector of the given relays' status.
func NewCollector(relays ...*Relay) *Collector {
	labels := []string{"relay", "target"}
	return &Collector{
		relays: relays,
		lagEvents: prometheus.NewDesc("riskreg_relay_lag_events",
			"Events in the log after the relay's saved checkpoint.", labels, nil),
		lagSeconds: prometheus.NewDesc("riskreg_relay_lag_seconds",
			"Age of the oldest event not yet relayed; 0 when the relay has caught up.", labels, nil),
		published: prometheus.NewDesc("riskreg_relay_published_total",
			"Events this process published and had acknowledged by the broker, repeats included.", labels, nil),
		failures: prometheus.NewDesc("riskreg_relay_publish_failures_total",
			"Publish attempts of this process that failed and were retried.", labels, nil),
		active: prometheus.NewDesc("riskreg_relay_active",
			"1 when this process holds the relay's lock and publishes, 0 when it stands by or retries.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lagEvents, c.lagSeconds, c.published, c.failures, c.active} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.relays {
		s := r.Status()
		active := 0.0
		if s.State == StateActive {
			active = 1
		}
		ch <- prometheus.MustNewConstMetric(c.lagEvents, prometheus.GaugeValue, float64(s.LagEvents), s.Name, s.Target)
		ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, s.LagSeconds, s.Name, s.Target)
		ch <- prometheus.MustNewConstMetric(c.published, prometheus.CounterValue, float64(s.Published), s.Name, s.Target)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(s.Failures), s.Name, s.Target)
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, active, s.Name, s.Target)
	}
}
