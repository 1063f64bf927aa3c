package main

import (
	"os"
	"strconv"
	"strings"
)

// cpuTicks is the machine's CPU time from /proc/stat's "cpu" line, in clock
// ticks: all of it, and what the hypervisor stole (time this VM's CPUs
// wanted to run and could not, because the host ran something else). A
// round with much steal says more about the host than about the targets.
type cpuTicks struct{ total, steal int64 }

func readCPUTicks() cpuTicks {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTicks{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTicks{}
	}
	var t cpuTicks
	// user nice system idle iowait irq softirq steal [guest guest_nice,
	// which are counted in user and nice already] (proc(5)).
	for i, s := range f[1:9] {
		n, _ := strconv.ParseInt(s, 10, 64)
		t.total += n
		if i == 7 {
			t.steal = n
		}
	}
	return t
}

// stealSince is the share of CPU time stolen since before, in percent; -1
// if unknown.
func (t cpuTicks) stealSince(before cpuTicks) float64 {
	d := t.total - before.total
	if d <= 0 || before.total == 0 {
		return -1
	}
	return float64(t.steal-before.steal) * 100 / float64(d)
}
