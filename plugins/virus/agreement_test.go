package main

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/internal/relaytest"
	"github.com/sluice-mail/sluice/plugins/virus/engine"
	"github.com/sluice-mail/sluice/plugins/virus/virustest"
)

// clamdInstance is a clamd started for a test on a unix socket with the
// given database files.
type clamdInstance struct{ sock string }

// startClamd runs Debian's clamd in the foreground with its own
// configuration and database directory; the test is skipped when clamd is
// not installed (CI installs clamav-daemon).
func startClamd(t testing.TB, dbFiles map[string][]byte) *clamdInstance {
	t.Helper()
	bin, err := exec.LookPath("clamd")
	if err != nil {
		for _, p := range []string{"/usr/sbin/clamd", "/usr/local/sbin/clamd"} {
			if _, err := os.Stat(p); err == nil {
				bin = p
			}
		}
	}
	if bin == "" {
		t.Skip("clamd not installed (apt-get install clamav-daemon)")
	}
	dir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	db := filepath.Join(dir, "db")
	os.Mkdir(db, 0o755)
	for name, b := range dbFiles {
		if err := os.WriteFile(filepath.Join(db, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(dir, "clamd.sock")
	conf := filepath.Join(dir, "clamd.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`LocalSocket %s
DatabaseDirectory %s
TemporaryDirectory %s
LogFile %s
Foreground yes
ScanArchive yes
ScanMail yes
StreamMaxLength 100M
`, sock, db, dir, filepath.Join(dir, "clamd.log"))), 0o644)
	cmd := exec.Command(bin, "-c", conf)
	out, err := os.Create(filepath.Join(dir, "clamd.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out // clamd logs every scan in the foreground
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return &clamdInstance{sock: sock}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
			t.Fatalf("clamd did not start:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// scan sends data to clamd with the plugin's own INSTREAM code.
func (c *clamdInstance) scan(t testing.TB, data []byte) string {
	t.Helper()
	conn, err := net.Dial("unix", c.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Minute))
	if _, err := conn.Write(instreamRequest(data)); err != nil {
		t.Fatal(err)
	}
	var resp bytes.Buffer
	resp.ReadFrom(conn)
	name, err := parseClamdReply(resp.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return name
}

// agreementDB is the custom database both engines load: one signature of
// each supported kind.
func agreementDB() (map[string][]byte, map[string][]byte) {
	hx := func(s string) string { return hex.EncodeToString([]byte(s)) }
	files := map[string][]byte{
		"md5":    []byte("sample for the md5 hash signature"),
		"sha1":   []byte("sample for the sha1 hash signature"),
		"sha256": []byte("sample for the sha256 hash signature"),
		"plain":  []byte("xxxx PLAINMARKER yyyy"),
		"nibble": []byte("....NIBBLE\x5aTAIL...."),
		"star":   []byte("STARHEAD" + strings.Repeat("-", 3000) + "STARTAIL"),
		"range":  []byte("RANGEHEAD123RANGETAIL"),
		"alt":    []byte("ALTHEADyALTTAIL"),
		"malt":   []byte("MALTHEADbetaMALTTAIL"),
		"off":    []byte("OFFSET@4OFFSETMARK"),
		"eof":    []byte("anything at all ENDMARK"),
		"pe":     minimalPE([]byte("\x90\x90PEPAYLOAD here")),
		"eicar":  virustest.EICAR(),
		"clean":  []byte("nothing here but RANGEHEAD1234567RANGETAIL and ALTHEADqALTTAIL"),
	}
	m5, s1, s2 := md5.Sum(files["md5"]), sha1.Sum(files["sha1"]), sha256.Sum256(files["sha256"])
	db := map[string][]byte{
		"eicar.ndb": []byte(engine.BuiltinNDB),
		"local.hdb": []byte(fmt.Sprintf("%x:%d:Agree.MD5\n", m5, len(files["md5"]))),
		"local.hsb": []byte(fmt.Sprintf("%x:%d:Agree.SHA1\n%x:%d:Agree.SHA256\n", s1, len(files["sha1"]), s2, len(files["sha256"]))),
		"local.ndb": []byte(strings.Join([]string{
			"Agree.Plain:0:*:" + hx("PLAINMARKER"),
			"Agree.Nibble:0:*:" + hx("NIBBLE") + "5?" + hx("TAIL"),
			"Agree.Star:0:*:" + hx("STARHEAD") + "*" + hx("STARTAIL"),
			"Agree.Range:0:*:" + hx("RANGEHEAD") + "{2-4}" + hx("RANGETAIL"),
			"Agree.Alt:0:*:" + hx("ALTHEAD") + "(78|79)" + hx("ALTTAIL"),
			"Agree.MultiAlt:0:*:" + hx("MALTHEAD") + "(" + hx("alpha") + "|" + hx("beta") + ")" + hx("MALTTAIL"),
			"Agree.Offset:0:8:" + hx("OFFSETMARK"),
			"Agree.EOF:0:EOF-7:" + hx("ENDMARK"),
			"Agree.PE:1:*:" + hx("PEPAYLOAD"),
			"Agree.NotPE:1:*:" + hx("ENDMARK"), // a PE-only signature on a non-PE file
		}, "\n") + "\n"),
	}
	return db, files
}

// minimalPE builds a PE file with one section holding body at the entry point.
func minimalPE(body []byte) []byte {
	d := make([]byte, 0x200)
	copy(d, "MZ")
	d[0x3c] = 0x80
	copy(d[0x80:], "PE\x00\x00")
	coff := 0x84
	d[coff], d[coff+1] = 0x4c, 0x01 // i386
	d[coff+2] = 1
	d[coff+16] = 0xe0
	opt := coff + 20
	d[opt], d[opt+1] = 0x0b, 0x01 // PE32
	d[opt+17] = 0x10              // entry point RVA 0x1000
	sec := opt + 0xe0
	copy(d[sec:], ".text")
	put := func(o int, v uint32) { d[o], d[o+1], d[o+2], d[o+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }
	put(sec+8, uint32(len(body)))
	put(sec+12, 0x1000)
	put(sec+16, 0x200)
	put(sec+20, 0x200)
	out := append(d, body...)
	return append(out, make([]byte, 0x400-len(out))...)
}

// TestAgreementWithClamd runs the same files through the built-in engine
// and a real clamd loaded with the same database, plain and zipped.
func TestAgreementWithClamd(t *testing.T) {
	dbFiles, files := agreementDB()
	cd := startClamd(t, dbFiles)
	db := engine.NewDB()
	for name, b := range dbFiles {
		if err := db.Load(name, b); err != nil {
			t.Fatal(err)
		}
	}
	sc := &engine.Scanner{DB: db}
	virusName := func(r *engine.Report) string {
		for _, f := range r.Findings {
			if f.Kind == engine.KindVirus {
				return f.Name
			}
		}
		return ""
	}
	agreed := 0
	for name, data := range files {
		for _, v := range []struct {
			label string
			data  []byte
		}{
			{"plain", data},
			{"zip", virustest.Zip(virustest.File{Name: name + ".bin", Data: data})},
			{"zip in zip", virustest.NestedZip(name+".bin", data, 2)},
		} {
			ours := virusName(sc.ScanFile(name, v.data))
			theirs := strings.TrimSuffix(cd.scan(t, v.data), ".UNOFFICIAL")
			if ours != theirs {
				t.Errorf("%s (%s): built-in engine %q, clamd %q", name, v.label, ours, theirs)
			} else {
				agreed++
			}
		}
	}
	t.Logf("%d verdicts agree", agreed)
}

// TestClamdCalloutAgrees sends the agreement files through a live relay,
// as attachments, to two filter blocks: one scanning with the built-in
// engine and the database files (files grant), one handing the signatures
// to the real clamd over the socket grant (clamd mode "only"). Both must
// answer every message alike: the same signature name, or 250.
func TestClamdCalloutAgrees(t *testing.T) {
	dbFiles, files := agreementDB()
	cd := startClamd(t, dbFiles)
	dir := t.TempDir()
	var sigs []string
	for name, b := range dbFiles {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, p)
	}
	grant := func(extra string) string {
		quoted := make([]string, len(sigs))
		for i, s := range sigs {
			quoted[i] = fmt.Sprintf("%q", s)
		}
		return "  grants = [\"files\", \"socket\"]\n  files = [" + strings.Join(quoted, ", ") + "]\n" +
			"  socket_endpoint = \"unix:" + cd.sock + "\"\n" + extra
	}
	// The attachment policy is off: the PE file would otherwise be refused
	// as an executable before any signature is named.
	allow := map[string]any{"executable": "allow"}
	s := relaytest.StartSink(t, false, nil)
	cfg := virusFilter(t, "engine", map[string]any{"signatures": sigs, "builtin": false, "attachments": allow}, grant("")) +
		virusFilter(t, "clamd", map[string]any{"builtin": false, "attachments": allow, "clamd": map[string]any{"mode": "only", "timeout": "60s"}}, grant("")) +
		sinkDomains(s, map[string]string{"engine.test": "engine", "clamd.test": "clamd"})
	r := relaytest.StartRelay(t, cfg)
	named := func(code int, text string) string {
		if code == 250 {
			return "clean"
		}
		return strings.TrimSuffix(text, ".UNOFFICIAL")
	}
	viruses := 0
	for name, data := range files {
		for _, v := range []struct {
			label string
			data  []byte
		}{
			{"plain", data},
			{"zip", virustest.Zip(virustest.File{Name: name + ".bin", Data: data})},
		} {
			msg := virustest.Message(name+" "+v.label, virustest.File{Name: name + ".dat", Data: v.data})
			ours := named(send(t, r, "u@engine.test", msg))
			theirs := named(send(t, r, "u@clamd.test", msg))
			if ours != theirs {
				t.Errorf("%s (%s): built-in engine %q, clamd callout %q", name, v.label, ours, theirs)
			}
			if ours != "clean" {
				viruses++
			}
		}
	}
	// Every file but "clean" carries a signature, plain and zipped.
	if want := 2 * (len(files) - 1); viruses != want {
		t.Errorf("%d messages refused, want %d", viruses, want)
	}
}
