package abi

// SigningKeys is the answer of sign_keys (a host function the operator
// grants with "sign"; optional, added to ABI v1 without a version change):
// the private keys the host holds for the filter, by name, with their
// public halves. The private keys never enter the guest.
type SigningKeys struct {
	Keys []SigningKey `json:"keys"`
}

// SigningKey describes one key of the "sign" grant.
type SigningKey struct {
	Name      string `json:"name"`      // as the operator wrote it in signing_keys
	Algorithm string `json:"algorithm"` // SignRSA or SignEd25519
	Bits      int    `json:"bits"`      // modulus size (RSA), 256 (Ed25519)
	// PublicKey is the DER SubjectPublicKeyInfo (PKIX) of the key; for RSA
	// it is also the p= of a DKIM key record.
	PublicKey []byte `json:"public_key"`
}

// Algorithms of the "sign" grant.
const (
	// SignRSA keys sign a SHA-256 digest (exactly 32 bytes) with
	// RSASSA-PKCS1-v1_5 (what DKIM's rsa-sha256 uses).
	SignRSA = "rsa"
	// SignEd25519 keys sign the data itself with pure Ed25519 (RFC 8032);
	// DKIM's ed25519-sha256 (RFC 8463) passes the SHA-256 digest as data.
	SignEd25519 = "ed25519"
)

// Limits of the "sign" grant.
const (
	MaxSignKeyName   = 255      // bytes of a key name
	MaxSignData      = 64 << 10 // bytes an Ed25519 key signs in one call
	MaxSignature     = 1024     // bytes of a signature: RSA keys are at most 8192 bits
	MaxSignRSABits   = 8192
	MinSignRSABits   = 1024 // RFC 8301
	SignRSADigestLen = 32   // SHA-256
)
