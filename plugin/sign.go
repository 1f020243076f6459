package plugin

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero/api"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// signGrant is the "sign" capability: private keys the host holds and uses
// on the plugin's behalf (DKIM signing runs natively, where RSA is two
// orders of magnitude faster than Go's RSA compiled to Wasm). The guest
// sees names and public keys only.
type signGrant struct {
	keys map[string]crypto.Signer // by name; nil unless granted
	list []byte                   // the sign_keys answer (abi.SigningKeys)
}

// loadSigningKeys reads and checks every key of the filter's signing_keys.
// A key file anyone may read is used but warned about.
func loadSigningKeys(cfg FilterSpec, log hclog.Logger) (signGrant, error) {
	if len(cfg.SigningKeys) == 0 {
		return signGrant{}, errors.New(`grant "sign" needs signing_keys`)
	}
	g := signGrant{keys: map[string]crypto.Signer{}}
	var list abi.SigningKeys
	sorted := slices.SortedFunc(slices.Values(cfg.SigningKeys), func(a, b SigningKey) int { return strings.Compare(a.Name, b.Name) })
	for _, k := range sorted {
		if _, dup := g.keys[k.Name]; dup {
			return signGrant{}, fmt.Errorf("signing key %q listed twice", k.Name)
		}
		if len(k.Name) == 0 || len(k.Name) > abi.MaxSignKeyName {
			return signGrant{}, fmt.Errorf("signing key name %q: 1 to %d bytes", k.Name, abi.MaxSignKeyName)
		}
		signer, info, err := readSigningKey(k.Path)
		if err != nil {
			return signGrant{}, fmt.Errorf("signing key %q (%s): %w", k.Name, k.Path, err)
		}
		if st, err := os.Stat(k.Path); err == nil && st.Mode().Perm()&0o004 != 0 {
			log.Warn("signing key file is readable by every user: chmod o-r it", "key", k.Name, "path", k.Path, "mode", st.Mode().Perm().String())
		}
		info.Name = k.Name
		g.keys[k.Name] = signer
		list.Keys = append(list.Keys, info)
	}
	g.list, _ = json.Marshal(list)
	return g, nil
}

// readSigningKey reads a PEM private key: PKCS#8 ("PRIVATE KEY", RSA or
// Ed25519, what sluice dkim keygen writes) or PKCS#1 ("RSA PRIVATE KEY").
func readSigningKey(path string) (crypto.Signer, abi.SigningKey, error) {
	var info abi.SigningKey
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, info, err
	}
	block, rest := pem.Decode(text)
	if block == nil {
		return nil, info, errors.New("no PEM block")
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, info, errors.New("more than one PEM block; want one private key per file")
	}
	var key any
	var format string
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		format = "PKCS#8"
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		format = "PKCS#1"
	default:
		return nil, info, fmt.Errorf("PEM type %q, want PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY (PKCS#1)", block.Type)
	}
	if err != nil {
		return nil, info, fmt.Errorf("invalid %s private key: %v", format, err)
	}
	var signer crypto.Signer
	switch k := key.(type) {
	case *rsa.PrivateKey:
		bits := k.N.BitLen()
		if bits < abi.MinSignRSABits || bits > abi.MaxSignRSABits {
			return nil, info, fmt.Errorf("RSA key of %d bits; want %d to %d (RFC 8301; 2048 is the norm)", bits, abi.MinSignRSABits, abi.MaxSignRSABits)
		}
		signer, info.Algorithm, info.Bits = k, abi.SignRSA, bits
	case ed25519.PrivateKey:
		signer, info.Algorithm, info.Bits = k, abi.SignEd25519, 256
	default:
		return nil, info, fmt.Errorf("unsupported key type %T; want RSA or Ed25519", key)
	}
	if info.PublicKey, err = x509.MarshalPKIXPublicKey(signer.Public()); err != nil {
		return nil, info, err
	}
	return signer, info, nil
}

// sign signs data with the named key: a SHA-256 digest with RSASSA-PKCS1-v1_5
// for RSA keys, the data itself with pure Ed25519 for Ed25519 keys.
func (g *signGrant) sign(name string, data []byte) ([]byte, int32) {
	if g.keys == nil {
		return nil, abi.ErrDenied
	}
	signer, ok := g.keys[name]
	if !ok {
		return nil, abi.ErrNotFound
	}
	var opts crypto.SignerOpts = crypto.Hash(0)
	switch signer.(type) {
	case *rsa.PrivateKey:
		if len(data) != abi.SignRSADigestLen {
			return nil, abi.ErrInvalid
		}
		opts = crypto.SHA256
	case ed25519.PrivateKey:
		if len(data) > abi.MaxSignData {
			return nil, abi.ErrTooLarge
		}
	}
	sig, err := signer.Sign(rand.Reader, data, opts)
	if err != nil {
		return nil, abi.ErrFailed
	}
	return sig, 0
}

func hostSignKeys(ctx context.Context, m api.Module, buf, capacity uint32) int32 {
	st := enter(ctx)
	if st == nil {
		return abi.ErrUnavailable
	}
	if st.f.sign.keys == nil {
		return abi.ErrDenied
	}
	return writeOut(m, buf, capacity, st.f.sign.list)
}

func hostSign(ctx context.Context, m api.Module, namePtr, nameLen, dataPtr, dataLen, buf, capacity uint32) int32 {
	st := enter(ctx)
	if st == nil {
		return abi.ErrUnavailable
	}
	g := &st.f.sign
	if g.keys == nil {
		return abi.ErrDenied
	}
	if nameLen > abi.MaxSignKeyName {
		return abi.ErrNotFound
	}
	if dataLen > abi.MaxSignData {
		return abi.ErrTooLarge
	}
	name, ok := m.Memory().Read(namePtr, nameLen)
	if !ok {
		return abi.ErrInvalid
	}
	data, ok := readGuest(m, dataPtr, dataLen)
	if !ok {
		return abi.ErrInvalid
	}
	sig, code := g.sign(string(name), data)
	if code != 0 {
		if code == abi.ErrFailed {
			st.f.log.Warn("plugin sign failed", "key", string(name))
		}
		return code
	}
	return writeOut(m, buf, capacity, sig)
}
