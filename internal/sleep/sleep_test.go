package sleep_test

import (
	"context"
	"testing"
	"time"

	"github.com/riskreg/riskreg/internal/sleep"
)

func TestForWholeWait(t *testing.T) {
	start := time.Now()
	if !sleep.For(context.Background(), 10*time.Millisecond) {
		t.Fatal("For reported an ended context")
	}
	if waited := time.Since(start); waited < 10*time.Millisecond {
		t.Fatalf("For returned after %v, before the 10ms passed", waited)
	}
}

func TestForEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if sleep.For(ctx, time.Hour) {
		t.Fatal("For reported a whole hour passed on an ended context")
	}
	if sleep.For(ctx, 0) {
		t.Fatal("For(0) reported the wait passed on an ended context")
	}
	if !sleep.For(context.Background(), 0) {
		t.Fatal("For(0) on a live context reported false")
	}
}
