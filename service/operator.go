package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/custodes/custodes/console"
	"github.com/custodes/custodes/control"
	"github.com/custodes/custodes/record"
)

// ErrBadRequest is an operator action that cannot be taken as asked.
var ErrBadRequest = console.ErrBadRequest

// maxReason bounds a suspension's reason: it goes into a public entry.
const maxReason = 2000

// Suspend switches off tenant, or one unit of it, with a reason that goes
// on the public record. Open sessions are refused from their next
// statement (AUP-8). The entry is appended before the suspension takes
// effect, so nothing is ever switched off off the record.
func (s *Service) Suspend(ctx context.Context, tenant, unit, reason string) (uint64, error) {
	if err := s.checkTarget(tenant, unit); err != nil {
		return 0, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return 0, fmt.Errorf("%w: a reason is required: it goes on the public record", ErrBadRequest)
	}
	if len(reason) > maxReason {
		return 0, fmt.Errorf("%w: the reason is longer than %d bytes", ErrBadRequest, maxReason)
	}
	if on, _, err := s.control.Suspension(ctx, tenant, unit); err != nil {
		return 0, err
	} else if on {
		if sus, err := s.control.Suspensions(ctx, tenant); err == nil && slices.ContainsFunc(sus, func(x control.Suspended) bool { return x.Unit == unit }) {
			return 0, fmt.Errorf("%w: %s is suspended already", ErrBadRequest, target(tenant, unit))
		}
	}
	idx, err := s.appendAction(ctx, record.KindSuspension, tenant, unit, reason)
	if err != nil {
		return 0, err
	}
	if _, err := s.control.Suspend(ctx, tenant, unit, reason); err != nil {
		return idx, err
	}
	s.log.Warn("suspended", "tenant", tenant, "unit", unit, "entry", idx)
	return idx, nil
}

// Resume lifts a suspension, on the record.
func (s *Service) Resume(ctx context.Context, tenant, unit, reason string) (uint64, error) {
	if err := s.checkTarget(tenant, unit); err != nil {
		return 0, err
	}
	sus, err := s.control.Suspensions(ctx, tenant)
	if err != nil {
		return 0, err
	}
	if !slices.ContainsFunc(sus, func(x control.Suspended) bool { return x.Unit == unit }) {
		return 0, fmt.Errorf("%w: %s is not suspended", ErrBadRequest, target(tenant, unit))
	}
	if len(reason) > maxReason {
		return 0, fmt.Errorf("%w: the reason is longer than %d bytes", ErrBadRequest, maxReason)
	}
	idx, err := s.appendAction(ctx, record.KindResumption, tenant, unit, strings.TrimSpace(reason))
	if err != nil {
		return 0, err
	}
	if _, err := s.control.Resume(ctx, tenant, unit); err != nil {
		return idx, err
	}
	s.log.Warn("resumed", "tenant", tenant, "unit", unit, "entry", idx)
	return idx, nil
}

// Suspensions lists the suspensions in force.
func (s *Service) Suspensions(ctx context.Context) ([]control.Suspended, error) {
	return s.control.Suspensions(ctx, s.cfg.Tenant.Name)
}

func (s *Service) checkTarget(tenant, unit string) error {
	if tenant != s.cfg.Tenant.Name {
		return fmt.Errorf("%w: this gateway serves tenant %s, not %q", ErrBadRequest, s.cfg.Tenant.Name, tenant)
	}
	if unit == "" {
		return nil
	}
	for _, u := range s.cfg.Tenant.Units {
		if u.Name == unit {
			return nil
		}
	}
	return fmt.Errorf("%w: tenant %s has no unit %q", ErrBadRequest, tenant, unit)
}

func target(tenant, unit string) string {
	if unit == "" {
		return "tenant " + tenant
	}
	return "unit " + unit + " of " + tenant
}

func (s *Service) appendAction(ctx context.Context, kind record.Kind, tenant, unit, reason string) (uint64, error) {
	e := &record.Entry{
		Kind:   kind,
		Time:   time.Now().UTC().Truncate(time.Microsecond),
		Tenant: tenant,
		Unit:   unit,
		Policy: s.policy.Hash(),
	}
	if reason != "" {
		e.Attrs = []record.Attr{{Key: "reason", Value: reason}}
	}
	b, err := e.Marshal()
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	idx, err := s.tlog.Append(ctx, b)
	if err != nil {
		return 0, fmt.Errorf("couldn't record the %s: %w", kind, err)
	}
	return idx, nil
}
