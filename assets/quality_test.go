package assets

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestQuality: quality.js's levels from round trip and loss, and the
// audio-only suggestion, fed synthetic samples every 2 s as the call page
// takes them: it comes once, after 10 s of poor samples on end.
func TestQuality(t *testing.T) {
	levels := []struct {
		rtt, loss float64
		want      string
	}{
		{20, 0, "good"}, {249, 1.9, "good"}, {250, 0, "fair"}, {20, 2, "fair"}, {500, 0, "poor"}, {20, 8, "poor"},
	}
	streaks := []struct {
		name    string
		samples string // one level a character, 2 s apart: g(ood), f(air), p(oor)
		want    []int  // the samples after which it suggests
	}{
		{"always good", "gggggggggg", nil},
		{"poor for 10 s", "gpppppp", []int{6}},
		{"poor for 8 s, twice", "pppppgppppp", nil},
		{"once only", "ppppppppppppgpppppp", []int{5}},
		{"fair does not count", "ffffffffff", nil},
	}
	ctx, bundle := modulePage(t)
	run := func(js string, out any) {
		t.Helper()
		runCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		raw, err := chromedp.Run(runCtx, chromedp.Evaluate[json.RawMessage](fmt.Sprintf(`import(%q).then((m) => %s)`, bundle.URL("quality.js"), js), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatal(err)
		}
	}
	for _, l := range levels {
		var got string
		run(fmt.Sprintf("m.qualityLevel(%v, %v)", l.rtt, l.loss), &got)
		if got != l.want {
			t.Errorf("qualityLevel(%v ms, %v %%) = %s, want %s", l.rtt, l.loss, got, l.want)
		}
	}
	for _, s := range streaks {
		var got []int
		run(fmt.Sprintf(`(() => {
			const streak = new m.PoorStreak(), names = { g: "good", f: "fair", p: "poor" }, told = [];
			[...%q].forEach((c, i) => { if (streak.sample(names[c], i * 2000)) told.push(i); });
			return told;
		})()`, s.samples), &got)
		if fmt.Sprint(got) != fmt.Sprint(s.want) && !(len(got) == 0 && len(s.want) == 0) {
			t.Errorf("%s (%s): suggested after samples %v, want %v", s.name, s.samples, got, s.want)
		}
	}
}
