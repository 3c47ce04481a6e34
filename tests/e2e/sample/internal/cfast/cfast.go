// Package cfast sums with C, so the sample exercises cgo.
package cfast

/*
#include <stdint.h>
static int64_t sum_to(int64_t n) {
	int64_t s = 0;
	for (int64_t i = 1; i <= n; i++) s += i;
	return s;
}
*/
import "C"

// SumTo returns 1 + 2 + ... + n, computed in C.
func SumTo(n int64) int64 { return int64(C.sum_to(C.int64_t(n))) }
