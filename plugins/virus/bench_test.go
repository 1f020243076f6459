package main

import (
	"math/rand"
	"testing"

	"github.com/sluice-mail/sluice/plugins/virus/engine"
	"github.com/sluice-mail/sluice/plugins/virus/virustest"
)

// bigAttachment is a message with a 10 MB pseudo-random binary attachment
// (base64, as mail carries it): the figure the issue asks for.
func bigAttachment() []byte {
	data := make([]byte, 10<<20)
	rand.New(rand.NewSource(1)).Read(data)
	return virustest.Message("big", virustest.File{Name: "big.bin", Data: data})
}

// BenchmarkScan10MB scans that message with the agreement database (every
// signature kind, EICAR) natively; the Wasm figure and the clamdscan
// comparison are in README.md.
func BenchmarkScan10MB(b *testing.B) {
	dbFiles, _ := agreementDB()
	db := engine.NewDB()
	for name, f := range dbFiles {
		if err := db.Load(name, f); err != nil {
			b.Fatal(err)
		}
	}
	sc := &engine.Scanner{DB: db}
	msg := bigAttachment()
	b.SetBytes(10 << 20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := sc.ScanMessage(msg); len(r.Findings) != 0 {
			b.Fatal(r.Findings)
		}
	}
}
