package assets

import "testing"

func TestGreeting(t *testing.T) {
	if got := Greeting(); got != "hello from an embedded file" {
		t.Fatalf("Greeting = %q", got)
	}
}
