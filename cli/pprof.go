package cli

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// startProfiling serves Go's profiles on the loopback address in
// CUSTODES_PPROF (e.g. 127.0.0.1:6060), for finding where the time goes
// under load. Off unless set; refused on a non-loopback address.
func startProfiling(log *slog.Logger) {
	addr := os.Getenv("CUSTODES_PPROF")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Error("CUSTODES_PPROF must be a loopback host:port; profiling stays off", "addr", addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := http.ListenAndServe(addr, mux); err != nil {
			log.Error("profiling listener failed", "err", err)
		}
	}()
	log.Warn("serving Go profiles", "addr", addr)
}
