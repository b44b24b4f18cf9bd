package console

import (
	"context"
	"net/http"
	"time"

	"github.com/riskreg/riskreg/domain"
	"github.com/riskreg/riskreg/eventstore"
)

// maxProblemsShown bounds the problems the integrity page lists.
const maxProblemsShown = 100

// verifyTimeout bounds one verification of the whole log.
const verifyTimeout = 5 * time.Minute

// verification is the outcome of one check of the log's hash chain.
type verification struct {
	At       time.Time
	By       string
	Took     time.Duration
	Checked  int64
	OK       bool
	Problems []eventstore.Problem // the first maxProblemsShown
	Count    int                  // all problems
}

// integrityData is the integrity page's data.
type integrityData struct {
	Last       *verification
	Checkpoint *Checkpoint
	Signed     bool // the log is signed (a checkpoint source is configured)
}

// integrityPage shows the latest verification of the log and, where the
// log is signed, the latest signed checkpoint.
func (c *Console) integrityPage(w http.ResponseWriter, r *http.Request, _ session) {
	d := integrityData{Signed: c.opt.LatestCheckpoint != nil}
	c.lastMu.Lock()
	d.Last = c.lastVerify
	c.lastMu.Unlock()
	if d.Signed {
		cp, found, err := c.opt.LatestCheckpoint(r.Context())
		if err != nil {
			c.fail(w, r, err, 0, "")
			return
		}
		if found {
			d.Checkpoint = &cp
		}
	}
	v := view{Title: "Integrity of the log", Nav: "integrity", Data: d}
	if r.URL.Query().Get("done") == "busy" {
		v.Notice = "A verification is already running; its result will show here when it ends."
	}
	c.render(w, r, 0, "integrity", v)
}

// verify recomputes the hash chain of the whole log, one run at a time.
func (c *Console) verify(w http.ResponseWriter, r *http.Request, s session) {
	if err := s.principal.Authorize(domain.ActionVerifyIntegrity); err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	if !c.verifyMu.TryLock() {
		http.Redirect(w, r, "/integrity?done=busy", http.StatusSeeOther)
		return
	}
	defer c.verifyMu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), verifyTimeout)
	defer cancel()
	start := c.opt.Now()
	rep, err := c.opt.Store.Verify(ctx, "")
	if err != nil {
		c.fail(w, r, err, 0, "")
		return
	}
	v := &verification{At: start, By: s.principal.Subject, Took: c.opt.Now().Sub(start).Round(time.Millisecond),
		Checked: rep.CheckedEvents, OK: rep.OK(), Count: len(rep.Problems)}
	v.Problems = rep.Problems[:min(len(rep.Problems), maxProblemsShown)]
	c.lastMu.Lock()
	c.lastVerify = v
	c.lastMu.Unlock()
	c.opt.Logger.InfoContext(r.Context(), "console: verified the log", "principal", s.principal.Subject,
		"events", rep.CheckedEvents, "problems", len(rep.Problems))
	http.Redirect(w, r, "/integrity", http.StatusSeeOther)
}
