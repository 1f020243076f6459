package engine

// The EICAR test file (https://www.eicar.org), in hex and in two halves so
// that scanners of this repository do not flag the source. ClamAV's own
// databases name it Eicar-Test-Signature.
const eicarHex = "58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d" +
	"5354414e444152442d414e544956495255532d544553542d46494c452124482b482a"

// BuiltinNDB is the database every scanner starts with: EICAR at the start
// of a file, so that a fresh install can be tested with the standard test
// file. It is also written, verbatim, into clamd's database by the
// agreement test.
const BuiltinNDB = "Eicar-Test-Signature:0:0:" + eicarHex + "\n"

// NewBuiltinDB returns a database holding BuiltinNDB.
func NewBuiltinDB() *DB {
	db := NewDB()
	if err := db.Load("builtin.ndb", []byte(BuiltinNDB)); err != nil {
		panic(err) // a constant; covered by tests
	}
	return db
}
