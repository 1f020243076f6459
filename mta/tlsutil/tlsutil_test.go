package tlsutil

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestSelfSignedCreatedOnce(t *testing.T) {
	dir := t.TempDir()
	c1, err := ServerConfig("", "", dir, "mx.example")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(filepath.Join(dir, SelfSignedCert))
	c2, err := ServerConfig("", "", dir, "mx.example")
	if err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(filepath.Join(dir, SelfSignedCert))
	if !bytes.Equal(first, second) || !bytes.Equal(c1.Certificates[0].Certificate[0], c2.Certificates[0].Certificate[0]) {
		t.Fatal("certificate regenerated on second start")
	}
	if fi, _ := os.Stat(filepath.Join(dir, SelfSignedKey)); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v", fi.Mode())
	}
}

func TestMissingConfiguredCert(t *testing.T) {
	if _, err := ServerConfig("/nonexistent/c.pem", "/nonexistent/k.pem", t.TempDir(), "x"); err == nil {
		t.Fatal("want error")
	}
}
