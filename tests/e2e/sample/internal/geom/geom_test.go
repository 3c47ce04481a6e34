package geom

import "testing"

func TestPathLength(t *testing.T) {
	got := PathLength([]Point{{0, 0}, {3, 4}, {3, 10}})
	if got != 11 {
		t.Fatalf("PathLength = %v, want 11", got)
	}
}
