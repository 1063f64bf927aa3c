package service

import (
	"context"
	"time"

	"github.com/custodes/custodes/sampler"
)

// StorageHistory and LogScans open storageHistory to the external tests.
func (s *Service) StorageHistory(ctx context.Context, since time.Time) ([]*sampler.Sample, error) {
	return s.storageHistory(ctx, since)
}

func LogScans() int64 { return logScans.Load() }
