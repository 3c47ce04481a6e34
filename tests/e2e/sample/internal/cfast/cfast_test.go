package cfast

import "testing"

func TestSumTo(t *testing.T) {
	if got := SumTo(100); got != 5050 {
		t.Fatalf("SumTo(100) = %d, want 5050", got)
	}
}
