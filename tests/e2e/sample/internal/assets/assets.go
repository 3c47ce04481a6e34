// Package assets serves files embedded at build time.
package assets

import (
	"embed"
	"strings"
)

//go:embed data/greeting.txt
var files embed.FS

// Greeting returns the embedded greeting, without its newline.
func Greeting() string {
	b, err := files.ReadFile("data/greeting.txt")
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(b))
}
