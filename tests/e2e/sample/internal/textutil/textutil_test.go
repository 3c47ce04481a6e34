package textutil

import (
	"reflect"
	"testing"
)

func TestTopWords(t *testing.T) {
	got := TopWords("the cat and the hat and the bat", 2)
	if want := []string{"the", "and"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("TopWords = %v, want %v", got, want)
	}
}
