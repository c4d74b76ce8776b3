package console

import (
	"strconv"
	"strings"
)

func itoa[T ~int32 | ~int | ~int64](v T) string { return strconv.FormatInt(int64(v), 10) }

func compareStrings(a, b string) int { return strings.Compare(a, b) }

func strconvQuote(s string) string { return strconv.Quote(s) }
