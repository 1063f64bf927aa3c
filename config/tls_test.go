package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTLSSection(t *testing.T) {
	c, err := Parse([]byte(good + "tls:\n  cert_file: gw.crt\n  key_file: gw.key\n  require: true\n  min_version: \"1.3\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.TLS.Enabled() || !c.TLS.Require || c.TLS.MinVersion != "1.3" {
		t.Fatalf("tls section: %+v", c.TLS)
	}
	// Marshal round-trips it, and leaves it out when empty.
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if c2, err := Parse(b); err != nil || c2.TLS != c.TLS {
		t.Fatalf("round trip: %+v, %v", c2.TLS, err)
	}
	c, _ = Parse([]byte(good))
	if b, _ := c.Marshal(); strings.Contains(string(b), "tls:") {
		t.Fatalf("an empty tls section is marshalled:\n%s", b)
	}

	for section, want := range map[string]string{
		"tls:\n  key_file: gw.key\n":                                    "tls.key_file is set without tls.cert_file",
		"tls:\n  cert_file: gw.crt\n":                                   "tls.cert_file is set without tls.key_file",
		"tls:\n  require: true\n":                                       "tls.require needs tls.cert_file",
		"tls:\n  cert_file: a\n  key_file: b\n  min_version: \"1.1\"\n": `tls.min_version "1.1" must be 1.2 or 1.3`,
		"tls:\n  cert_file: a\n  key_file: b\n  ca_file: c\n":           "field ca_file not found",
		"tls:\n  cert_file: a\n  key_file: b\n  require: maybe\n":       "cannot unmarshal",
	} {
		_, err := Parse([]byte(good + section))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", section, err, want)
		}
	}
}

func TestServerTLS(t *testing.T) {
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gw"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"gw"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(filepath.Join(dir, "gw.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, "gw.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	path := filepath.Join(dir, "custodes.yaml")
	load := func(section string) *Config {
		t.Helper()
		if err := os.WriteFile(path, []byte(good+section), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	if tc, err := load("").ServerTLS(); tc != nil || err != nil {
		t.Fatalf("no tls section: %v, %v", tc, err)
	}
	// Relative to the config file's directory.
	tc, err := load("tls:\n  cert_file: gw.crt\n  key_file: gw.key\n").ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	if tc.MinVersion != tls.VersionTLS12 || len(tc.Certificates) != 1 || tc.Certificates[0].Leaf.Subject.CommonName != "gw" {
		t.Fatalf("tls config: min %x, %d certificates", tc.MinVersion, len(tc.Certificates))
	}
	if tc, _ := load("tls:\n  cert_file: gw.crt\n  key_file: gw.key\n  min_version: \"1.3\"\n").ServerTLS(); tc.MinVersion != tls.VersionTLS13 {
		t.Fatalf("min_version 1.3: %x", tc.MinVersion)
	}
	// A key anyone can read, a missing file, a key that is not the
	// certificate's: refused at start.
	os.Chmod(filepath.Join(dir, "gw.key"), 0o644)
	if _, err := load("tls:\n  cert_file: gw.crt\n  key_file: gw.key\n").ServerTLS(); err == nil || !strings.Contains(err.Error(), "readable by every user") {
		t.Fatalf("world-readable key: %v", err)
	}
	os.Chmod(filepath.Join(dir, "gw.key"), 0o600)
	if _, err := load("tls:\n  cert_file: nope.crt\n  key_file: gw.key\n").ServerTLS(); err == nil {
		t.Fatal("missing cert_file loaded")
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	oder, _ := x509.MarshalPKCS8PrivateKey(other)
	os.WriteFile(filepath.Join(dir, "other.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: oder}), 0o600)
	if _, err := load("tls:\n  cert_file: gw.crt\n  key_file: other.key\n").ServerTLS(); err == nil {
		t.Fatal("a key that is not the certificate's loaded")
	}
}
