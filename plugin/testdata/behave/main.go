// Command behave is the host tests' plugin: one module whose behaviour is
// chosen by its filter config, so one build serves every test (compiling a
// Go plugin costs seconds; instantiating it, milliseconds).
package main

import (
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/sdk"
)

type verdict struct {
	Action, Enhanced, Text string
	Code                   int
}

type change struct {
	Op, Name, Value, Path, Type, Disposition string
}

type conf struct {
	Mode      string             // loop, fill, copy, random, signloop, kvloop, grow, panic, exit, flood, sandbox, body, kv, dns, http, sign, echo
	ModeStage string             `json:"mode_stage"` // stage where Mode applies (default data)
	Verdicts  map[string]verdict // stage -> verdict
	Changes   []change           // data stage
	DNSName   string             `json:"dns_name"`   // name the dns mode looks up (default localhost)
	DNSNames  []string           `json:"dns_names"`  // names the dns mode looks up instead, one X-DNS each
	BlobSizes []int              `json:"blob_sizes"` // blob mode: StoreBlob of so many bytes each, one X-Blob each
	BlobParts []string           `json:"blob_parts"` // blob mode: then StorePart of these parts, one X-Blob each
	SignKey   string             `json:"sign_key"`   // key the sign mode signs with
	SignData  []byte             `json:"sign_data"`
}

var cfg conf

func main() {}

func init() {
	sdk.Handle(sdk.Handlers{
		Connect: func(e *sdk.ConnectEvent) sdk.Result { return run("connect", e.Session, nil) },
		Helo:    func(e *sdk.HeloEvent) sdk.Result { return run("helo", e.Session, nil) },
		Auth: func(e *sdk.AuthEvent) sdk.Result {
			return run("auth", e.Session, func() string { return fmt.Sprintf("mech=%s user=%s ok=%t", e.Mechanism, e.User, e.OK) })
		},
		Mail: func(e *sdk.MailEvent) sdk.Result {
			return run("mail", e.Session, func() string { return fmt.Sprintf("from=%s params=%v", e.Txn.From, e.Txn.MailParams) })
		},
		Rcpt: func(e *sdk.RcptEvent) sdk.Result {
			return run("rcpt", e.Session, func() string { return fmt.Sprintf("rcpt=%s n=%d", e.Rcpt.Addr, len(e.Txn.Recipients)) })
		},
		Data:      data,
		Delivered: func(e *sdk.DeliveredEvent) { run("delivered", e.Session, nil) },
	})
}

func loadConfig() {
	cfg = conf{}
	if err := sdk.ConfigJSON(&cfg); err != nil {
		panic(err)
	}
	if cfg.ModeStage == "" {
		cfg.ModeStage = "data"
	}
}

// run applies the configured misbehaviour or verdict for a stage.
func run(stage string, s sdk.Session, echo func() string) sdk.Result {
	loadConfig()
	if cfg.ModeStage == stage {
		switch cfg.Mode {
		case "loop":
			for {
			}
		case "sleep":
			time.Sleep(time.Hour)
		case "grow":
			var keep [][]byte
			for {
				keep = append(keep, make([]byte, 1<<20))
			}
		case "fill": // one memory.fill of 48 MiB a round
			buf := make([]byte, 48<<20)
			for {
				clear(buf)
			}
		case "copy": // one memory.copy of 24 MiB a round
			a, b := make([]byte, 24<<20), make([]byte, 24<<20)
			for {
				copy(a, b)
			}
		case "random": // one WASI random_get of 16 MiB a round
			buf := make([]byte, 16<<20)
			for {
				crand.Read(buf)
			}
		case "signloop", "kvloop": // a costly host call a round; the KV key "last" has the time of the latest
			for {
				if cfg.Mode == "signloop" {
					if _, err := sdk.Sign(cfg.SignKey, cfg.SignData); err != nil {
						panic(err)
					}
				}
				sdk.KVPut("last", []byte(strconv.FormatInt(time.Now().UnixNano(), 10)))
			}
		case "panic":
			panic("behave: deliberate panic")
		case "exit":
			os.Exit(3)
		case "flood":
			for i := 0; i < 20000; i++ {
				fmt.Println("flood line", i, strings.Repeat("x", 100))
			}
			fmt.Print(strings.Repeat("y", 1<<20)) // one enormous line
		case "echo":
			text := fmt.Sprintf("stage=%s ip=%s port=%d listener=%s/%s tls=%t helo=%s ext=%t user=%s", stage,
				s.ClientIP, s.ClientPort, s.Listener, s.ListenerKind, s.TLS, s.Helo, s.HeloExtended, s.AuthUser)
			if echo != nil {
				text += " " + echo()
			}
			return sdk.Tempfail(451, "4.7.1", text)
		}
	}
	if v, ok := cfg.Verdicts[stage]; ok {
		return sdk.Result{Action: v.Action, Code: v.Code, Enhanced: v.Enhanced, Text: v.Text}
	}
	return sdk.Continue()
}

func data(e *sdk.DataEvent) sdk.Result {
	r := run("data", e.Session, func() string {
		return fmt.Sprintf("from=%s rcpts=%d size=%d subject=%s", e.Txn.From, len(e.Txn.Recipients), e.Size, e.Header.Get("Subject"))
	})
	ch := new(sdk.Changes)
	for _, c := range cfg.Changes {
		switch c.Op {
		case "add":
			ch.AddHeader(c.Name, c.Value)
		case "set":
			ch.SetHeader(c.Name, c.Value)
		case "remove":
			ch.RemoveHeader(c.Name)
		case "sender":
			ch.SetSender(c.Value)
		case "add_rcpt":
			ch.AddRecipient(c.Value)
		case "remove_rcpt":
			ch.RemoveRecipient(c.Value)
		case "replace_rcpt":
			ch.ReplaceRecipient(c.Name, c.Value)
		case "reroute":
			ch.Reroute(c.Name, c.Value)
		case "body":
			ch.ReplaceBody([]byte(c.Value))
		case "part":
			ch.ReplacePart(c.Path, c.Type, c.Disposition, []byte(c.Value))
		}
	}
	switch cfg.Mode {
	case "sandbox":
		ch.AddHeader("X-Open", errText(func() error { _, err := os.Open("/etc/passwd"); return err }))
		ch.AddHeader("X-Create", errText(func() error { _, err := os.Create("owned"); return err }))
		ch.AddHeader("X-Dial", errText(func() error { _, err := net.Dial("tcp", "127.0.0.1:25"); return err }))
		ch.AddHeader("X-Env", strconv.Itoa(len(os.Environ())))
		ch.AddHeader("X-Year", strconv.Itoa(time.Now().Year()))
	case "body":
		h := sha256.New()
		n, err := io.Copy(h, e.Body())
		ch.AddHeader("X-Body", fmt.Sprintf("%d %s %v", n, hex.EncodeToString(h.Sum(nil)), err))
		for _, p := range e.Parts {
			if p.Multipart {
				continue
			}
			b, err := io.ReadAll(e.PartContent(p))
			ch.AddHeader("X-Part", fmt.Sprintf("%s %s %q %v", p.Path, p.ContentType, strings.TrimSpace(string(b)), err))
		}
	case "kv":
		n := 0
		if v, err := sdk.KVGet("count"); err == nil {
			n, _ = strconv.Atoi(string(v))
		} else if !errors.Is(err, sdk.ErrNotFound) {
			panic(err)
		}
		n++
		if err := sdk.KVPut("count", []byte(strconv.Itoa(n))); err != nil {
			panic(err)
		}
		ch.AddHeader("X-Count", strconv.Itoa(n))
		ch.AddHeader("X-Delete-Missing", errText(func() error { return sdk.KVDelete("missing") }))
	case "dns":
		name := cfg.DNSName
		if name == "" {
			name = "localhost"
		}
		names := cfg.DNSNames
		if len(names) == 0 {
			names = []string{name}
		}
		for _, name := range names {
			recs, err := sdk.LookupDNS("A", name)
			ch.AddHeader("X-DNS", fmt.Sprintf("%v %v", recs, err))
		}
	case "blob":
		for _, n := range cfg.BlobSizes {
			info, err := sdk.StoreBlob(make([]byte, n), "b.bin", "application/octet-stream", 0)
			ch.AddHeader("X-Blob", blobText(info, err))
		}
		for _, path := range cfg.BlobParts {
			info, err := e.StorePart(sdk.Part{Path: path}, "p.bin", "application/octet-stream", 0)
			ch.AddHeader("X-Blob", blobText(info, err))
		}
	case "sign":
		keys, err := sdk.SigningKeys()
		for _, k := range keys {
			ch.AddHeader("X-Key", fmt.Sprintf("%s %s %d %s", k.Name, k.Algorithm, k.Bits, base64.StdEncoding.EncodeToString(k.PublicKey)))
		}
		if err != nil {
			ch.AddHeader("X-Key", "error: "+err.Error())
		}
		sig, err := sdk.Sign(cfg.SignKey, cfg.SignData)
		if err != nil {
			ch.AddHeader("X-Sign", "error: "+err.Error())
		} else {
			ch.AddHeader("X-Sign", base64.StdEncoding.EncodeToString(sig))
		}
	case "http":
		resp, err := sdk.HTTPCall("POST", "text/plain", []byte("ping"))
		if err != nil {
			ch.AddHeader("X-HTTP", err.Error())
		} else {
			ch.AddHeader("X-HTTP", fmt.Sprintf("%d %s", resp.Status, resp.Body))
		}
	}
	return r.With(ch)
}

func blobText(info *sdk.BlobInfo, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return strconv.FormatInt(info.Size, 10)
}

func errText(f func() error) string {
	if err := f(); err != nil {
		return "error: " + strings.ReplaceAll(err.Error(), "\n", " ")
	}
	return "ok"
}
