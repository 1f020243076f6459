package sdk

import (
	"encoding/json"

	"github.com/sluice-mail/sluice/sdk/abi"
)

// SigningKey is one private key the host holds for this filter (grants =
// ["sign"], signing_keys = {...}): its name, algorithm (abi.SignRSA or
// abi.SignEd25519), size and public key (DER SubjectPublicKeyInfo; parse it
// with x509.ParsePKIXPublicKey). The private key stays in the host.
type SigningKey = abi.SigningKey

// SigningKeys lists the keys the operator granted this filter. It fails
// with ErrDenied unless the operator granted "sign". The list never
// changes during an instance's life.
func SigningKeys() ([]SigningKey, error) {
	out, err := hostSignKeys()
	if err != nil {
		return nil, err
	}
	var list abi.SigningKeys
	if err := json.Unmarshal(out, &list); err != nil {
		return nil, err
	}
	return list.Keys, nil
}

// Sign asks the host to sign data with the named key. For an RSA key data
// is a SHA-256 digest (32 bytes), signed with RSASSA-PKCS1-v1_5; for an
// Ed25519 key data is the message itself (at most 64 KiB), signed with pure
// Ed25519. It fails with ErrDenied unless the operator granted "sign",
// ErrNotFound for a name that is not among SigningKeys, and ErrInvalid for
// an RSA digest of the wrong size.
func Sign(name string, data []byte) ([]byte, error) {
	return hostSign(name, data)
}
