// Package await lets tests wait for a condition with a deadline instead of
// sleeping and hoping.
package await

import (
	"testing"
	"time"
)

// True polls cond until it holds, and fails t if it does not within the
// given time.
func True(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true within %s: %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
