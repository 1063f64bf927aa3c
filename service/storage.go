package service

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/sampler"
	"github.com/custodes/custodes/translog"
)

// newSampler builds the storage sampler from the config.
func (s *Service) newSampler() *sampler.Sampler {
	role := func(u string) string {
		p, err := url.Parse(u)
		if err != nil || p.User == nil {
			return ""
		}
		return p.User.Username()
	}
	var datasets []string
	for _, d := range s.cfg.Datasets {
		datasets = append(datasets, d.Table)
	}
	gw, ctl := role(s.cfg.Backend.URL), role(s.cfg.Control.URL)
	return sampler.New(s.scope, s, sampler.Config{
		Datasets:     datasets,
		OwnRoles:     []string{gw, ctl},
		GatewayRole:  gw,
		Admins:       s.cfg.Storage.ExpectedAdmins,
		GrowthRatio:  s.cfg.Alerts.StorageGrowthRatio,
		GrowthWindow: s.cfg.Alerts.StorageGrowthWindow.Duration,
	}, s.log.With("component", "sampler"))
}

// Attest records a storage attestation.
func (s *Service) Attest(ctx context.Context, attrs map[string]string) (uint64, error) {
	return s.appendEntry(ctx, &record.Entry{Kind: record.KindStorageAttestation, Attrs: sortedAttrs(attrs)})
}

// Alert records an alert: kind is a short name (storage_growth,
// bypass_role, …), detail says why in numbers.
func (s *Service) Alert(ctx context.Context, kind, detail string) (uint64, error) {
	s.log.Warn("alert", "kind", kind, "detail", detail)
	return s.appendEntry(ctx, &record.Entry{Kind: record.KindAlert, Attrs: []record.Attr{{Key: "detail", Value: detail}, {Key: "kind", Value: kind}}})
}

// appendEntry fills in time, tenant and policy and appends e.
func (s *Service) appendEntry(ctx context.Context, e *record.Entry) (uint64, error) {
	e.Time = time.Now().UTC().Truncate(time.Microsecond)
	e.Tenant = s.cfg.Tenant.Name
	e.Policy = s.policy.Hash()
	slices.SortFunc(e.Attrs, func(a, b record.Attr) int { return strings.Compare(a.Key, b.Key) })
	b, err := e.Marshal()
	if err != nil {
		return 0, fmt.Errorf("couldn't encode %s entry: %w", e.Kind, err)
	}
	idx, err := s.tlog.Append(ctx, b)
	if err != nil {
		return 0, fmt.Errorf("couldn't record %s: %w", e.Kind, err)
	}
	return idx, nil
}

// runSampler seeds the storage sampler with the attestations the log holds
// within the growth window, then runs it every interval until ctx ends.
func (s *Service) runSampler(ctx context.Context) {
	sm := s.newSampler()
	if window := s.cfg.Alerts.StorageGrowthWindow.Duration; window > 0 {
		earlier, err := s.storageHistory(ctx, time.Now().Add(-window))
		if err != nil {
			s.log.Warn("couldn't read earlier storage attestations from the log; growth is measured from now", "err", err)
		}
		s.log.Info("storage growth measured from the log's attestations", "earlier", len(earlier), "window", window)
		sm.Seed(earlier)
	}
	sm.Run(ctx, s.cfg.Storage.Interval.Duration)
}

// storageHistory reads, verifying the log as it goes, the storage
// attestations recorded since since.
func (s *Service) storageHistory(ctx context.Context, since time.Time) ([]*sampler.Sample, error) {
	src, err := translog.OpenSource(s.cfg.Path(s.cfg.Log.Dir))
	if err != nil {
		return nil, err
	}
	var out []*sampler.Sample
	_, err = translog.Verify(ctx, src, s.tlog.VerifierKey(), translog.VerifyOptions{Entry: func(_ uint64, b []byte) error {
		if !bytes.Contains(b, []byte(record.KindStorageAttestation)) {
			return nil // cheap: most entries are statements
		}
		e, err := record.Parse(b)
		if err != nil || e.Kind != record.KindStorageAttestation || e.Time.Before(since) {
			return nil
		}
		attrs := map[string]string{}
		for _, a := range e.Attrs {
			attrs[a.Key] = a.Value
		}
		out = append(out, sampler.FromAttrs(e.Time, attrs))
		return nil
	}})
	return out, err
}

// SampleStorage takes and records one storage attestation now, with its
// alerts (Serve also does it every storage.interval).
func (s *Service) SampleStorage(ctx context.Context) error { return s.newSampler().Once(ctx) }
