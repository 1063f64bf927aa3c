package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
)

// TLS is the tls section of custodes.yaml: TLS for analysts' connections
// to the gateway (listen). Optional: without it the gateway answers every
// client's SSLRequest with 'N', as a PostgreSQL server with ssl=off does,
// and sslmode=require clients cannot connect.
//
//	tls:
//	  cert_file: gateway.crt   # PEM certificate chain, leaf first
//	  key_file: gateway.key    # PEM private key of the leaf; keep it private
//	  require: true            # refuse clients that do not use TLS
//
// With a certificate configured the gateway answers SSLRequest with 'S' and
// speaks TLS 1.2 or 1.3 (1.3 when the client offers it), as PostgreSQL does
// for sslmode=prefer, require, verify-ca and verify-full clients; it also
// accepts PostgreSQL 17's direct TLS (sslnegotiation=direct, ALPN
// "postgresql"). Over TLS it offers SCRAM-SHA-256-PLUS, which binds the
// password exchange to the certificate (channel_binding=require works),
// beside SCRAM-SHA-256. For verify-full, the certificate must name the host
// clients connect to (a DNS name or IP address in its subjectAltName).
//
// The files are read when the gateway starts: to rotate the certificate,
// replace the files and restart.
//
// TLS to the agency database is set in backend.url, not here, with the
// libpq parameters a PostgreSQL URL takes: sslmode (disable, allow, prefer
// — the default when the URL gives none —, require, verify-ca,
// verify-full), sslrootcert, sslcert, sslkey and sslpassword. Use
// sslmode=verify-full with sslrootcert=FILE whenever the database is not
// on the same machine: require encrypts but does not check who answers.
type TLS struct {
	// CertFile is the PEM certificate chain the gateway presents, leaf
	// first. Relative to the directory of this file. Required with
	// key_file.
	CertFile string `yaml:"cert_file,omitempty"`
	// KeyFile is the PEM private key of the certificate (RSA, ECDSA or
	// Ed25519, unencrypted). Relative to the directory of this file.
	KeyFile string `yaml:"key_file,omitempty"`
	// Require refuses a client that does not use TLS with FATAL 28000
	// before authentication. Default false: clients with sslmode=disable
	// (or allow) still connect in the clear. CancelRequests are accepted
	// either way, as PostgreSQL does: a client may send one in the clear.
	Require bool `yaml:"require,omitempty"`
	// MinVersion is the lowest TLS version accepted, "1.2" (the default)
	// or "1.3".
	MinVersion string `yaml:"min_version,omitempty"`
}

// Enabled says whether a certificate is configured.
func (t *TLS) Enabled() bool { return t.CertFile != "" }

// validate checks the tls section; called from Config.validate.
func (t *TLS) validate(bad func(format string, args ...any)) {
	switch {
	case t.CertFile == "" && t.KeyFile != "":
		bad("tls.key_file is set without tls.cert_file")
	case t.CertFile != "" && t.KeyFile == "":
		bad("tls.cert_file is set without tls.key_file")
	case t.CertFile == "" && t.Require:
		bad("tls.require needs tls.cert_file and tls.key_file")
	case t.CertFile == "" && t.MinVersion != "":
		bad("tls.min_version needs tls.cert_file and tls.key_file")
	}
	if _, ok := tlsVersions[t.MinVersion]; !ok {
		bad("tls.min_version %q must be 1.2 or 1.3", t.MinVersion)
	}
}

var tlsVersions = map[string]uint16{"": tls.VersionTLS12, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

// ServerTLS reads the tls section's certificate and key and returns the
// TLS configuration the gateway serves clients with, or nil when the
// section is empty.
func (c *Config) ServerTLS() (*tls.Config, error) {
	t := &c.TLS
	if !t.Enabled() {
		return nil, nil
	}
	// As PostgreSQL does for ssl_key_file, refuse a key anyone may read.
	if fi, err := os.Stat(c.Path(t.KeyFile)); err != nil {
		return nil, fmt.Errorf("tls.key_file: %w", err)
	} else if fi.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("tls.key_file %s is readable by every user: chmod 600 (or 640) it", c.Path(t.KeyFile))
	}
	cert, err := tls.LoadX509KeyPair(c.Path(t.CertFile), c.Path(t.KeyFile))
	if err != nil {
		// The error names files and PEM problems, never key material.
		return nil, fmt.Errorf("tls: couldn't load tls.cert_file and tls.key_file: %w", err)
	}
	if cert.Leaf == nil {
		return nil, errors.New("tls.cert_file holds no certificate")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tlsVersions[t.MinVersion],
	}, nil
}
