package deployment

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// gateway is the `custodes serve` child process.
type gateway struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	pprof  string
}

// GatewayOptions are how the gateway is started.
type GatewayOptions struct {
	// Pprof has the gateway serve its profiles (CUSTODES_PPROF) on a
	// free loopback address, PprofAddr.
	Pprof bool
}

// StartGateway runs `bin serve --config` on the deployment's config and
// waits, at most 2 minutes, for it to say it is ready. Its log goes to
// GatewayLog.
func (d *Deployment) StartGateway(ctx context.Context, bin string, o GatewayOptions) error {
	d.say("starting custodes serve")
	g := &gateway{exited: make(chan struct{})}
	env := os.Environ()
	if o.Pprof {
		var err error
		if g.pprof, err = FreeAddr(); err != nil {
			return err
		}
		env = append(env, "CUSTODES_PPROF="+g.pprof)
	}
	logf, err := os.Create(d.GatewayLog())
	if err != nil {
		return fmt.Errorf("couldn't create the gateway's log: %w", err)
	}
	cmd := exec.Command(bin, "serve", "--config", d.ConfigPath)
	cmd.Env = env
	cmd.Stderr = logf
	// If the harness dies, so does its gateway.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("couldn't start %s serve: %w", bin, err)
	}
	g.cmd = cmd
	d.gateway, d.Bin = g, bin
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "custodes: ready") {
				close(ready)
				break
			}
		}
		// Drained, so that the child never blocks writing to stdout.
		io.Copy(io.Discard, stdout)
	}()
	go func() {
		cmd.Wait()
		logf.Close()
		close(g.exited)
	}()
	select {
	case <-ready:
		return nil
	case <-g.exited:
		return fmt.Errorf("custodes serve exited before it was ready; see %s", d.GatewayLog())
	case <-time.After(2 * time.Minute):
	case <-ctx.Done():
	}
	d.StopGateway()
	return fmt.Errorf("custodes serve was not ready in time; see %s", d.GatewayLog())
}

// GatewayLog is the file the gateway's stderr goes to.
func (d *Deployment) GatewayLog() string { return filepath.Join(d.Dir, "custodes.log") }

// GatewayPid is the gateway's process id, 0 if it was never started.
func (d *Deployment) GatewayPid() int {
	if d.gateway == nil {
		return 0
	}
	return d.gateway.cmd.Process.Pid
}

// PprofAddr is where the gateway serves its profiles, if asked to.
func (d *Deployment) PprofAddr() string {
	if d.gateway == nil {
		return ""
	}
	return d.gateway.pprof
}

// Exited is closed when the gateway has exited (never, if it was not
// started).
func (d *Deployment) Exited() <-chan struct{} {
	if d.gateway == nil {
		return nil
	}
	return d.gateway.exited
}

// GatewayRunning reports whether the gateway is still running.
func (d *Deployment) GatewayRunning() bool {
	if d.gateway == nil {
		return false
	}
	select {
	case <-d.gateway.exited:
		return false
	default:
		return true
	}
}

// StopGateway asks the gateway to shut down (SIGTERM) and waits for it, at
// most 60s before it kills it. It reports a gateway that did not exit
// cleanly, now or before.
func (d *Deployment) StopGateway() error {
	g := d.gateway
	if !d.GatewayRunning() {
		if g != nil && g.cmd.ProcessState != nil && !g.cmd.ProcessState.Success() {
			return fmt.Errorf("custodes serve had exited: %v", g.cmd.ProcessState)
		}
		return nil
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
		if !g.cmd.ProcessState.Success() {
			return fmt.Errorf("custodes serve exited with %v", g.cmd.ProcessState)
		}
		return nil
	case <-time.After(60 * time.Second):
		g.cmd.Process.Kill()
		<-g.exited
		return errors.New("custodes serve did not stop within 60s of SIGTERM; killed")
	}
}

// Metrics scrapes the gateway's /metrics with the operator token, within
// 5s, and returns the values of the samples named (without labels) that it
// found; none named, all of them.
func (d *Deployment) Metrics(ctx context.Context, names ...string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+d.Config.HTTP+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+d.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("couldn't scrape the gateway's /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	values := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || (len(want) > 0 && !want[name]) {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			values[name] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("couldn't read the gateway's /metrics: %w", err)
	}
	return values, nil
}
