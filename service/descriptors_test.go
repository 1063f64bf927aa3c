package service

import (
	"strings"
	"testing"
)

func TestCheckDescriptors(t *testing.T) {
	// The default max_sessions under a common default limit of 1024.
	err := checkDescriptors(500, 1024)
	if err == nil || !strings.Contains(err.Error(), "max_sessions 500 needs about 1384 file descriptors") || !strings.Contains(err.Error(), "only 1024") {
		t.Errorf("500 sessions under 1024 descriptors: %v", err)
	}
	if err := checkDescriptors(500, 1384); err != nil {
		t.Errorf("500 sessions under exactly enough descriptors: %v", err)
	}
	if err := checkDescriptors(100, 1024); err != nil {
		t.Errorf("100 sessions under 1024 descriptors: %v", err)
	}
	if l := descriptorLimit(); l < 64 {
		t.Errorf("this process's descriptor limit reads as %d", l)
	}
}
