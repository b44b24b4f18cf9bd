package graph

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// maxOperationLabels bounds the distinct operation names the metrics keep;
// later names are counted as "other", so clients cannot blow up the series.
const maxOperationLabels = 200

// Metrics are the Prometheus metrics of the GraphQL API.
type Metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	wsClients prometheus.Gauge

	mu    sync.Mutex
	names map[string]bool
}

// NewMetrics makes the API's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "riskreg_graphql_operations_total",
			Help: "GraphQL operations answered, by operation name, type and outcome (ok or error).",
		}, []string{"operation", "type", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "riskreg_graphql_operation_duration_seconds",
			Help:    "Time from receiving a GraphQL query or mutation to its answer, by operation name.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"operation", "type"}),
		wsClients: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "riskreg_graphql_websocket_clients",
			Help: "Websocket clients connected to /graphql.",
		}),
		names: make(map[string]bool),
	}
	reg.MustRegister(m.requests, m.latency, m.wsClients)
	return m
}

// label returns the label of an operation name.
func (m *Metrics) label(name string) string {
	if name == "" {
		return "anonymous"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[name] {
		return name
	}
	if len(m.names) >= maxOperationLabels {
		return "other"
	}
	m.names[name] = true
	return name
}
