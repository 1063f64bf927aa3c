package translog

import "github.com/prometheus/client_golang/prometheus"

// Metrics returns the log's collectors, for the caller to register: the
// entries journaled but not yet integrated into Tessera (the group-commit
// queue), and the size integrated so far.
func (l *Log) Metrics() []prometheus.Collector {
	j := l.journal
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "custodes_log_queue_entries",
			Help: "Entries durable in the journal but not yet integrated into the log's tree.",
		}, func() float64 {
			j.mu.Lock()
			defer j.mu.Unlock()
			return float64(len(j.queue))
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "custodes_log_integrated_entries",
			Help: "Entries integrated into the log's tree (a checkpoint covers them within a second).",
		}, func() float64 {
			j.mu.Lock()
			defer j.mu.Unlock()
			return float64(j.integrated)
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "custodes_log_fsyncs_total",
			Help: "Journal fdatasyncs: each makes a group of appends durable.",
		}, func() float64 { return float64(j.syncs.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "custodes_log_sidecars_pending",
			Help: "Entries durable in the journal whose private part (sealed detail, coverage) is not yet in the control database.",
		}, func() float64 {
			j.mu.Lock()
			defer j.mu.Unlock()
			return float64(len(j.sides))
		}),
		j.syncTime,
		j.groupSize,
	}
}
