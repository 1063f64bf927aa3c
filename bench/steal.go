package main

import "github.com/prometheus/procfs"

// cpuTicks is the machine's CPU time from /proc/stat (through procfs), in
// seconds: all of it, and what the hypervisor stole (time this VM's CPUs
// wanted to run and could not, because the host ran something else). A
// round with much steal says more about the host than about the targets.
type cpuTicks struct{ total, steal float64 }

func readCPUTicks() cpuTicks {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return cpuTicks{}
	}
	st, err := fs.Stat()
	if err != nil {
		return cpuTicks{}
	}
	c := st.CPUTotal
	// Guest time is counted in user time already (proc(5)).
	return cpuTicks{total: c.User + c.Nice + c.System + c.Idle + c.Iowait + c.IRQ + c.SoftIRQ + c.Steal, steal: c.Steal}
}

// stealSince is the share of CPU time stolen since before, in percent; -1
// if unknown.
func (t cpuTicks) stealSince(before cpuTicks) float64 {
	d := t.total - before.total
	if d <= 0 || before.total == 0 {
		return -1
	}
	return (t.steal - before.steal) * 100 / d
}
