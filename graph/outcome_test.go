package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/riskreg/riskreg/domain"
)

// registerWithKey posts registerRisk with an idempotency key and returns the
// HTTP status, the Retry-After header, the error code ("" for success) and
// the risk's id.
func registerWithKey(ctx context.Context, e *env, token, key string) (status int, retryAfter, code, id string, err error) {
	in := riskInput("Under termination")
	in["idempotencyKey"] = key
	body, _ := json.Marshal(map[string]any{"query": `mutation($in: RegisterRiskInput!) { registerRisk(input: $in) { id } }`,
		"variables": vars{"in": in}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL, bytes.NewReader(body))
	if err != nil {
		return 0, "", "", "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		return 0, "", "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", "", "", err
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, "", "", "", fmt.Errorf("answer %d %q: %w", resp.StatusCode, b, err)
	}
	var out struct{ RegisterRisk struct{ ID string } }
	if r.code() == "" {
		if err := json.Unmarshal(r.Data, &out); err != nil {
			return 0, "", "", "", err
		}
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), r.code(), out.RegisterRisk.ID, nil
}

// Every backend of the register is terminated 20 times while clients
// register risks: each answer is a success, a CONFLICT, OUTCOME_UNKNOWN or
// UNAVAILABLE (503 with Retry-After), never INTERNAL; sending every
// unsettled request again with its idempotency key settles it, and the
// register then holds exactly one risk per key.
func TestBackendTerminationUnderLoad(t *testing.T) {
	e := newEnv(t)
	staff := e.token(t, "sam", domain.RoleStaff)
	ctx := t.Context()
	killer, err := pgx.Connect(ctx, e.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer killer.Close(context.Background())

	const workers, terminations = 8, 20
	var (
		mu          sync.Mutex
		unsettled   []string // keys answered OUTCOME_UNKNOWN or UNAVAILABLE
		unavailable = map[string]bool{}
		settled     = map[string]string{} // key -> risk id
		codes       = map[string]int{}
		answered    atomic.Int64
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", w, i)
				status, retry, code, id, err := registerWithKey(ctx, e, staff, key)
				if err != nil {
					t.Errorf("%s: %v", key, err)
					return
				}
				mu.Lock()
				codes[code]++
				switch code {
				case "":
					settled[key] = id
				case "OUTCOME_UNKNOWN":
					unsettled = append(unsettled, key)
				case "UNAVAILABLE":
					if status != http.StatusServiceUnavailable || retry == "" {
						t.Errorf("%s: UNAVAILABLE with HTTP %d, Retry-After %q; want 503 with Retry-After", key, status, retry)
					}
					unsettled = append(unsettled, key)
					unavailable[key] = true
				default:
					t.Errorf("%s: answered %q (HTTP %d)", key, code, status)
				}
				mu.Unlock()
				answered.Add(1)
			}
		})
	}
	for range terminations {
		// Let some requests through between terminations.
		for from := answered.Load(); answered.Load() < from+workers; {
			time.Sleep(5 * time.Millisecond)
		}
		if _, err := killer.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()

	for _, key := range unsettled {
		var code, id string
		for range 50 { // the pool may still be reconnecting
			_, _, code, id, err = registerWithKey(ctx, e, staff, key)
			if err != nil {
				t.Fatal(err)
			}
			if code != "UNAVAILABLE" {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code != "" {
			t.Fatalf("%s sent again: %q", key, code)
		}
		settled[key] = id
	}
	var risks int
	if err := killer.QueryRow(ctx, `SELECT count(*) FROM streams WHERE stream_type = $1`, domain.StreamRisk).Scan(&risks); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, id := range settled {
		ids[id] = true
	}
	if risks != len(settled) || len(ids) != len(settled) {
		t.Errorf("%d risks recorded for %d keys (%d distinct ids): a retry duplicated or lost one", risks, len(settled), len(ids))
	}
	t.Logf("%d requests: %v; %d sent again", answered.Load(), codes, len(unsettled))
}
