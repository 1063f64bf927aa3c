package service

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/custodes/custodes/control"
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

// Attest records a storage attestation, and where it is in the log for
// the sampler's history after a restart.
func (s *Service) Attest(ctx context.Context, attrs map[string]string) (uint64, error) {
	e := &record.Entry{Kind: record.KindStorageAttestation, Attrs: sortedAttrs(attrs)}
	idx, err := s.appendEntry(ctx, e)
	if err != nil {
		return 0, err
	}
	// Only a pointer to the entry: without it a restart measures growth
	// from one attestation fewer, which is no reason to fail this one.
	if err := s.control.RecordAttestation(ctx, s.cfg.Tenant.Name, idx, e.Time); err != nil {
		s.log.Warn("couldn't remember where a storage attestation is in the log", "entry", idx, "err", err)
	}
	return idx, nil
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

// storageHistory returns the storage attestations recorded since since.
// The control database says where they are in the log; each is read from
// the log and proven included in its signed checkpoint, so a pointer that
// was changed or made up finds no attestation. Only if the control
// database has never indexed the log is the whole log read, once, and
// verified as it goes (scanLogAttestations): a restart need not read
// millions of entries.
func (s *Service) storageHistory(ctx context.Context, since time.Time) ([]*sampler.Sample, error) {
	tenant := s.cfg.Tenant.Name
	atts, indexed, err := s.control.Attestations(ctx, tenant, since)
	if err != nil {
		return nil, err
	}
	if !indexed {
		found, out, err := s.scanLogAttestations(ctx, since)
		if err != nil {
			return nil, err
		}
		if err := s.control.IndexAttestations(ctx, tenant, found); err != nil {
			s.log.Warn("couldn't index the log's storage attestations; the next start reads the log again", "err", err)
		}
		return out, nil
	}
	src, err := translog.OpenSource(s.cfg.Path(s.cfg.Log.Dir))
	if err != nil {
		return nil, err
	}
	var out []*sampler.Sample
	for _, a := range atts {
		smp, err := s.provenAttestation(ctx, src, a, since)
		if err != nil {
			// One the checkpoint does not cover yet, or a bad pointer: the
			// window is measured from the others.
			s.log.Warn("skipping a storage attestation the log does not prove", "entry", a.Entry, "err", err)
			continue
		}
		out = append(out, smp)
	}
	return out, nil
}

// provenAttestation reads entry a.Entry with its inclusion proof against
// the log's checkpoint and returns it as a sample, if it is a storage
// attestation of this tenant taken when a says, at or after since.
func (s *Service) provenAttestation(ctx context.Context, src translog.Source, a control.Attestation, since time.Time) (*sampler.Sample, error) {
	b, err := translog.Prove(ctx, src, a.Entry)
	if err != nil {
		return nil, err
	}
	if _, err := b.Verify(s.tlog.VerifierKey()); err != nil {
		return nil, err
	}
	e, err := record.Parse(b.Entry)
	if err != nil {
		return nil, err
	}
	if e.Kind != record.KindStorageAttestation || e.Tenant != s.cfg.Tenant.Name || !e.Time.Equal(a.At) || e.Time.Before(since) {
		return nil, fmt.Errorf("entry %d is a %s of %s at %v, not the storage attestation remembered at %v", a.Entry, e.Kind, e.Tenant, e.Time, a.At)
	}
	return sampler.FromAttrs(e.Time, attrMap(e)), nil
}

// scanLogAttestations reads the whole log, verifying it as it goes, and
// returns where every storage attestation is and the samples of those
// taken since since.
func (s *Service) scanLogAttestations(ctx context.Context, since time.Time) ([]control.Attestation, []*sampler.Sample, error) {
	logScans.Add(1)
	src, err := translog.OpenSource(s.cfg.Path(s.cfg.Log.Dir))
	if err != nil {
		return nil, nil, err
	}
	var found []control.Attestation
	var out []*sampler.Sample
	_, err = translog.Verify(ctx, src, s.tlog.VerifierKey(), translog.VerifyOptions{Entry: func(i uint64, b []byte) error {
		if !bytes.Contains(b, []byte(record.KindStorageAttestation)) {
			return nil // cheap: most entries are statements
		}
		e, err := record.Parse(b)
		if err != nil || e.Kind != record.KindStorageAttestation || e.Tenant != s.cfg.Tenant.Name {
			return nil
		}
		found = append(found, control.Attestation{Entry: i, At: e.Time})
		if !e.Time.Before(since) {
			out = append(out, sampler.FromAttrs(e.Time, attrMap(e)))
		}
		return nil
	}})
	if err != nil {
		return nil, nil, err
	}
	return found, out, nil
}

// logScans counts whole reads of the log for storage history (for tests).
var logScans atomic.Int64

func attrMap(e *record.Entry) map[string]string {
	attrs := map[string]string{}
	for _, a := range e.Attrs {
		attrs[a.Key] = a.Value
	}
	return attrs
}

// SampleStorage takes and records one storage attestation now, with its
// alerts (Serve also does it every storage.interval).
func (s *Service) SampleStorage(ctx context.Context) error { return s.newSampler().Once(ctx) }
