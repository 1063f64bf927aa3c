package control

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
)

// The memo must give what the HMAC gives, keep parts apart, and stay
// bounded.
func TestMacMemo(t *testing.T) {
	db := &DB{pseudonymKey: []byte("0123456789abcdef0123456789abcdef")}
	want := func(in string) string {
		h := hmac.New(sha256.New, db.pseudonymKey)
		h.Write([]byte(in))
		return hex.EncodeToString(h.Sum(nil))
	}
	for range 2 { // computed, then remembered
		if got := db.mac("subject", "agency", "101"); got != want("subject\x00agency\x00101\x00") {
			t.Fatalf("mac = %s", got)
		}
	}
	if db.mac("subject", "a", "bc") == db.mac("subject", "ab", "c") {
		t.Error("parts run together")
	}
	for i := range maxMacs + 10 {
		db.mac("subject", "agency", fmt.Sprint(i))
	}
	if n := len(db.macs); n > maxMacs {
		t.Errorf("memo holds %d, more than %d", n, maxMacs)
	}
	if got := db.mac("subject", "agency", "7"); got != want("subject\x00agency\x007\x00") {
		t.Errorf("after the memo was emptied: %s", got)
	}
}
