package app

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestQRSVG checks the drawing of a QR code: a square whose side is the
// code's size (21 + 4 per version) plus the quiet zone, with the three
// 7-module finder patterns in their corners.
func TestQRSVG(t *testing.T) {
	for _, link := range []string{
		"http://localhost:8080/r/team-a",
		"https://calls.example.org/r/" + strings.Repeat("%E5%AE%B6", 64),
	} {
		svg, err := qrSVG(link)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`viewBox="0 0 (\d+) (\d+)"`).FindStringSubmatch(svg)
		if m == nil || m[1] != m[2] {
			t.Fatalf("%s: no square viewBox in %.200s", link, svg)
		}
		var side int
		fmt.Sscan(m[1], &side)
		n := side - 2*qrQuietZone
		if n < 21 || (n-21)%4 != 0 {
			t.Fatalf("%s: %d modules a side, not a QR size", link, n)
		}
		q := qrQuietZone
		for _, corner := range [][2]int{{q, q}, {q + n - 7, q}, {q, q + n - 7}} {
			// The finder's top row is a run of 7 dark modules.
			run := fmt.Sprintf("M%d %dh7v1h-7z", corner[0], corner[1])
			if !strings.Contains(svg, run) {
				t.Errorf("%s: no finder pattern at %v", link, corner)
			}
		}
	}
}
