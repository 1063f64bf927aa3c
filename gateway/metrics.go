package gateway

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's Prometheus collectors; they are registered by
// whoever serves /metrics (see Metrics), never globally.
type metrics struct {
	statements *prometheus.CounterVec
	latency    prometheus.Histogram
	sessions   prometheus.GaugeFunc
}

func newMetrics(s *Server) *metrics {
	return &metrics{
		statements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "custodes_statements_total",
			Help: "Statements judged, by decision and by the rule that denied (empty when allowed).",
		}, []string{"decision", "rule"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "custodes_statement_seconds",
			Help:    "Time to append a statement's entry durably (its rows wait for it).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		sessions: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "custodes_sessions",
			Help: "Open analyst sessions.",
		}, func() float64 { return float64(s.Sessions()) }),
	}
}

// Metrics returns the gateway's collectors, for the caller to register.
func (s *Server) Metrics() []prometheus.Collector {
	return []prometheus.Collector{s.m.statements, s.m.latency, s.m.sessions}
}

func (s *Server) counted(decision string, rules []string, since time.Time) {
	rule := ""
	if len(rules) > 0 {
		rule = rules[0]
	}
	s.m.statements.WithLabelValues(decision, rule).Inc()
	if !since.IsZero() {
		s.m.latency.Observe(time.Since(since).Seconds())
	}
}
