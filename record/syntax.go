package record

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The value classes of the package documentation. Each check returns a
// short reason, phrased to follow "invalid FIELD %q: ".

const (
	maxName  = 64
	maxToken = 128
)

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func checkName(s string) error {
	if len(s) == 0 || len(s) > maxName {
		return fmt.Errorf("must be 1 to %d bytes", maxName)
	}
	if !isAlnum(s[0]) {
		return errors.New("must start with a letter or digit")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("byte %q not allowed (A-Z a-z 0-9 . _ -)", c)
		}
	}
	return nil
}

func checkToken(s string) error {
	if len(s) == 0 || len(s) > maxToken {
		return fmt.Errorf("must be 1 to %d bytes", maxToken)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != ':' && c != '-' {
			return fmt.Errorf("byte %q not allowed (A-Z a-z 0-9 . _ : -)", c)
		}
	}
	return nil
}

// checkHash accepts the canonical lowercase hex of a non-zero SHA-256 hash;
// the zero hash has only one encoding, the empty value.
func checkHash(s string) error {
	if len(s) != 64 {
		return errors.New("must be 64 lowercase hex digits")
	}
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return errors.New("must be 64 lowercase hex digits")
		}
		zero = zero && c == '0'
	}
	if zero {
		return errors.New("the zero hash is written as the empty value")
	}
	return nil
}

func parseNumber(s string) (uint64, error) {
	if s == "" || len(s) > 1 && s[0] == '0' || s[0] < '0' || s[0] > '9' {
		return 0, errors.New("must be a decimal number without sign or leading zeros")
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("must be a decimal number from 0 to 18446744073709551615")
	}
	return n, nil
}

// checkList checks each element with check and rejects duplicates: a
// repeated dataset or subject token is a bug upstream, not a fact to record.
func checkList(l []string, check func(string) error) error {
	seen := make(map[string]bool, len(l))
	for _, s := range l {
		if err := check(s); err != nil {
			return fmt.Errorf("element %q: %w", s, err)
		}
		if seen[s] {
			return fmt.Errorf("element %q appears twice", s)
		}
		seen[s] = true
	}
	return nil
}

func parseList(s string, check func(string) error) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	l := strings.Split(s, ",")
	if err := checkList(l, check); err != nil {
		return nil, err
	}
	return l, nil
}

// checkText checks a decoded text value: valid UTF-8 and no control
// characters other than tab and newline, so that a reason shown in a report
// or terminal cannot rewrite what surrounds it.
func checkText(s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return fmt.Errorf("invalid UTF-8 at byte %d", i)
			}
		}
		if r < 0x20 && r != '\t' && r != '\n' || 0x7f <= r && r <= 0x9f {
			return fmt.Errorf("control character %U at byte %d", r, i)
		}
	}
	return nil
}

const upperHex = "0123456789ABCDEF"

// literal reports whether b is written as itself in text.
func literal(b byte) bool { return 0x21 <= b && b <= 0x7e && b != '%' }

func appendText(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if literal(b) {
			dst = append(dst, b)
		} else {
			dst = append(dst, '%', upperHex[b>>4], upperHex[b&0xf])
		}
	}
	return dst
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func parseText(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if !literal(c) {
				return "", fmt.Errorf("byte %q must be escaped", c)
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("truncated % escape")
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("bad escape %q (two uppercase hex digits)", s[i:i+3])
		}
		d := hi<<4 | lo
		if literal(d) {
			return "", fmt.Errorf("escape %q of a byte written as itself", s[i:i+3])
		}
		b.WriteByte(d)
		i += 2
	}
	t := b.String()
	if err := checkText(t); err != nil {
		return "", err
	}
	return t, nil
}
