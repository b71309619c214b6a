package harness

import (
	"fmt"
	"regexp"
)

// verificationCodePattern is the ASCII form of a verification code: four
// words and six digits (docs/protocol.md, "Verification code").
var verificationCodePattern = regexp.MustCompile(`^[a-z]+-[a-z]+-[a-z]+-[a-z]+-[0-9]{6}$`)

// VerificationCode waits for the call page in p to show its verification
// code and returns its ASCII form (data-verification-code).
func VerificationCode(p Page) (string, error) {
	code, err := Poll(p, `document.getElementById("verification-code").dataset.verificationCode || ""`,
		func(s string) bool { return s != "" })
	if err != nil {
		return "", fmt.Errorf("%s: no verification code: %w", p, err)
	}
	if !verificationCodePattern.MatchString(code) {
		return code, fmt.Errorf("%s: verification code %q is not four words and six digits", p, code)
	}
	return code, nil
}

// SameVerificationCode checks that the two pages of a call show the same
// verification code, and returns it.
func SameVerificationCode(a, b Page) (string, error) {
	codeA, err := VerificationCode(a)
	if err != nil {
		return "", err
	}
	codeB, err := VerificationCode(b)
	if err != nil {
		return "", err
	}
	if codeA != codeB {
		return "", fmt.Errorf("%s shows %s, %s shows %s", a, codeA, b, codeB)
	}
	return codeA, nil
}
