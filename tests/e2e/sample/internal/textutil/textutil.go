// Package textutil transforms text.
package textutil

import (
	"sort"
	"strings"
	"unicode"
)

// WordCounts counts the words of s, case-folded.
func WordCounts(s string) map[string]int {
	counts := map[string]int{}
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) }) {
		counts[strings.ToLower(w)]++
	}
	return counts
}

// TopWords returns the n most frequent words, ties broken alphabetically.
func TopWords(s string, n int) []string {
	counts := WordCounts(s)
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return words[i] < words[j]
	})
	if len(words) > n {
		words = words[:n]
	}
	return words
}
