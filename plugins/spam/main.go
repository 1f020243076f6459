// Command spam is sluice's built-in content filter: weighted rules on the
// header and body plus a Bayesian token classifier kept in the host's
// key-value store (trained with `sluice spam train`). It adds X-Spam-Score,
// X-Spam-Status and X-Spam-Report, tags the Subject, and quarantines or
// rejects at DATA by per-domain thresholds. See README.md.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o spam.wasm ./plugins/spam
package main

import (
	"errors"
	"io"
	"time"

	"github.com/sluice-mail/sluice/plugins/internal/hdrtext"
	"github.com/sluice-mail/sluice/plugins/internal/pluginconf"
	"github.com/sluice-mail/sluice/plugins/spam/bayes"
	"github.com/sluice-mail/sluice/sdk"
)

func main() {}

func init() {
	sdk.Handle(sdk.Handlers{Data: data})
	conf = pluginconf.AtInit("spam", parseSettings)
}

// conf is read once, in init: a bad config refuses to load, so `sluice
// check-config` and a reload report it. The model is reloaded when the
// store's meta record names a new generation.
var (
	conf     *settings
	model    *bayes.Model
	modelGen int64 = -1
)

type hostStore struct{}

func (hostStore) Get(k string) ([]byte, error) { return sdk.KVGet(k) }
func (hostStore) Put(k string, v []byte) error { return sdk.KVPut(k, v) }
func (hostStore) Delete(k string) error        { return sdk.KVDelete(k) }
func isNotFound(err error) bool                { return errors.Is(err, sdk.ErrNotFound) }

func currentModel() *bayes.Model {
	meta, err := bayes.ReadMeta(hostStore{}, isNotFound)
	switch {
	case errors.Is(err, bayes.ErrNoModel):
		model, modelGen = nil, -1
	case err != nil:
		sdk.Log(sdk.LevelWarn, "bayes: "+err.Error())
	case meta.Gen != modelGen:
		m, err := bayes.Load(hostStore{}, meta)
		if err != nil {
			// Keep the previous model (a retrain may be under way).
			sdk.Log(sdk.LevelWarn, "bayes: "+err.Error())
			break
		}
		model, modelGen = m, meta.Gen
	}
	return model
}

func data(e *sdk.DataEvent) sdk.Result {
	if conf == nil { // outside the sandbox only: AtInit refuses a bad config
		return sdk.Tempfail(451, "4.3.5", "Content filter unavailable, try again later")
	}
	body, err := io.ReadAll(io.LimitReader(e.Body(), conf.maxBody))
	if err != nil {
		return sdk.Tempfail(451, "4.3.0", "Content filter could not read the message")
	}
	hdr := make([]bayes.Field, len(e.Header))
	for i, f := range e.Header {
		hdr[i] = bayes.Field{Name: f.Name, Value: f.Value}
	}
	doc := bayes.Parse(hdr, body)
	v := conf.evaluate(doc, e.Txn.From, currentModel(), time.Now())
	rcpts := make([]string, len(e.Txn.Recipients))
	for i, r := range e.Txn.Recipients {
		rcpts[i] = r.Addr
	}
	subj := subjectField{Value: e.Header.Get("Subject"), Present: e.Header.Has("Subject"), SMTPUTF8: hdrtext.SMTPUTF8(e.Txn.MailParams)}
	return conf.result(v, conf.actionsFor(rcpts), subj).sdkResult()
}
