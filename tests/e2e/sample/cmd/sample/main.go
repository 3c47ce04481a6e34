// Command sample ties the packages together.
package main

import (
	"fmt"

	"example.com/sample/internal/assets"
	"example.com/sample/internal/cfast"
	"example.com/sample/internal/geom"
	"example.com/sample/internal/textutil"
)

func main() {
	fmt.Println(assets.Greeting())
	fmt.Println(cfast.SumTo(10), geom.PathLength([]geom.Point{{X: 0, Y: 0}, {X: 1, Y: 1}}))
	fmt.Println(textutil.TopWords(assets.Greeting(), 3))
}
