package harness

import (
	"fmt"
	"time"
)

// diagTimeout bounds a connection test: its network checks run at once,
// and a blocked one gives up after about 10 s.
const diagTimeout = time.Minute

// Diagnosis is what the connection test page (/diag) shows once it is
// done.
type Diagnosis struct {
	Verdict string            // data-verdict
	Text    string            // the verdict's sentence
	Results map[string]string // data-result by data-check
	Details map[string]string // each row's sentence, by data-check
	Report  string            // the plain-text report
}

// diagJS reads the page; its verdict is "running" until the test ends.
const diagJS = `(() => {
	const v = document.getElementById("verdict");
	const results = {}, details = {};
	for (const row of document.querySelectorAll("[data-check]")) {
		results[row.dataset.check] = row.dataset.result;
		details[row.dataset.check] = row.querySelector(".detail").textContent;
	}
	return {Verdict: v ? v.dataset.verdict : "", Text: v ? v.textContent : "", Results: results, Details: details,
		Report: (document.getElementById("report") || {}).value || ""};
})()`

// Diagnose opens the connection test at url in p and waits for its
// verdict.
func Diagnose(p Page, url string) (Diagnosis, error) {
	if err := Load(p, url); err != nil {
		return Diagnosis{}, err
	}
	deadline := time.Now().Add(diagTimeout)
	for {
		d, err := Eval[Diagnosis](p, diagJS)
		if err == nil && d.Verdict != "" && d.Verdict != "running" {
			return d, nil
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("%s: the connection test gave no verdict within %v (%+v, %v)", p, diagTimeout, d, err)
		}
		time.Sleep(pollInterval)
	}
}
