package main

import "github.com/prometheus/procfs"

// cpuTicks is the machine's CPU time from /proc/stat (through procfs), in
// seconds: all of it, what the hypervisor stole (time this VM's CPUs
// wanted to run and could not, because the host ran something else), and
// what was idle. A round with much steal says more about the host than
// about the targets; a round with much idle time was bound by waiting
// (16 clients each waiting for its answer), not by the CPU.
type cpuTicks struct{ total, steal, idle float64 }

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
	return cpuTicks{total: c.User + c.Nice + c.System + c.Idle + c.Iowait + c.IRQ + c.SoftIRQ + c.Steal, steal: c.Steal, idle: c.Idle + c.Iowait}
}

// stealSince and idleSince are the shares of CPU time stolen and idle
// since before, in percent; -1 if unknown.
func (t cpuTicks) stealSince(before cpuTicks) float64 { return t.share(before, t.steal-before.steal) }
func (t cpuTicks) idleSince(before cpuTicks) float64  { return t.share(before, t.idle-before.idle) }

func (t cpuTicks) share(before cpuTicks, part float64) float64 {
	d := t.total - before.total
	if d <= 0 || before.total == 0 {
		return -1
	}
	return part * 100 / d
}
