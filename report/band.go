package report

import (
	"math"
	"strconv"
)

// BandWidth is the width of the bands small cells are shown in.
const BandWidth = 250

// Band is a count shown only as the range it falls in: exactly 0, or
// 1–249, 250–499, 500–749, … (see the package doc for which counts).
type Band struct {
	Min uint64 `json:"min"`
	Max uint64 `json:"max"`
}

// band returns the band n falls in.
func band(n uint64) Band {
	if n == 0 {
		return Band{}
	}
	lo := n / BandWidth * BandWidth
	hi := uint64(math.MaxUint64)
	if lo <= math.MaxUint64-(BandWidth-1) {
		hi = lo + BandWidth - 1
	}
	return Band{Min: max(lo, 1), Max: hi}
}

// String is "0" or "MIN–MAX".
func (b Band) String() string {
	if b.Min == b.Max {
		return strconv.FormatUint(b.Min, 10)
	}
	return strconv.FormatUint(b.Min, 10) + "–" + strconv.FormatUint(b.Max, 10)
}
