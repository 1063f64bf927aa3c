// Package record defines the public log entry: one line-oriented text record
// per decision custodes makes, appended to the transparency log.
//
// Entries are public, so they carry no personal data: subjects, analysts and
// authorities appear only as opaque pseudonyms or commitments, and the
// details (SQL text, names, ids) live in a sealed detail record that the
// entry commits to by hash.
//
// The encoding is strict, so that every entry has exactly one encoding and
// anyone can re-derive the bytes (and so the Merkle leaf hash) from the
// fields: [Parse] accepts only what [Entry.Marshal] produces, and
// Parse(Marshal(e)) == e and Marshal(Parse(b)) == b.
//
// # Format v1, byte for byte
//
// An entry is at most [MaxSize] (65535) bytes, the largest entry C2SP
// tlog-tiles can bundle. Every byte is printable ASCII (0x20–0x7E) or a
// newline (0x0A). The entry is a sequence of lines, each terminated by one
// newline, the last one included; there are no blank lines, no carriage
// returns and nothing after the last newline.
//
// The first line is exactly
//
//	custodes/entry/v1
//
// It is followed by exactly these sixteen lines, always all of them, in this
// order:
//
//	kind            the kind, one of: statement, login_failure,
//	                authority_issued, authority_revoked, policy_published,
//	                suspension, resumption, storage_attestation, alert
//	time            YYYY-MM-DDTHH:MM:SS.ffffffZ: UTC, exactly six fraction
//	                digits, four-digit year (e.g. 2026-12-01T19:00:00.123456Z)
//	tenant          a name (required)
//	unit            a name, or empty
//	analyst         a token (the analyst's pseudonym), or empty
//	authority-kind  judicial_warrant, court_order, subpoena, administrative,
//	                or empty
//	authority       a hash (commitment to the authority id), or empty
//	class           a name (statement class: read, write, ddl, ...), or empty
//	datasets        a list of tokens
//	decision        allow or deny; required for kind statement, else optional
//	rules           a list of names (rule ids such as AUP-3)
//	rows            a number
//	subjects        a number (distinct subjects in the result)
//	subject-tokens  a list of tokens (keyed subject pseudonyms)
//	policy          a token (policy version or hash), or empty
//	detail          a hash (SHA-256 of the sealed detail record), or empty
//
// A line is the key alone when its value is empty, and otherwise the key, one
// space (0x20) and the value: "rules" and "rules AUP-3,AUP-5" are valid,
// "rules " is not.
//
// Zero or more attribute lines follow, carrying kind-specific public facts
// (a suspension's reason, an authority's subject cap):
//
//	attr NAME          (empty value)
//	attr NAME VALUE    (VALUE is text, encoded as below)
//
// Attribute names are strictly increasing in byte order, so each appears
// at most once.
//
// Value syntax:
//
//	name    1–64 bytes of A–Z a–z 0–9 . _ - ; the first byte a letter or digit
//	token   1–128 bytes of A–Z a–z 0–9 . _ : -
//	hash    exactly 64 lowercase hex digits, not all zero (the zero hash is
//	        written as the empty value)
//	number  decimal, 0 to 18446744073709551615, no sign, no leading zeros
//	list    elements separated by single commas (0x2C), none empty, no
//	        duplicates; the empty list is the empty value
//	text    the value's UTF-8 bytes, each byte from 0x21 to 0x7E other than
//	        % (0x25) written as itself and every other byte written as %XX,
//	        two uppercase hex digits; so a space is %20, % is %25, é is %C3%A9.
//	        Decoded, text is valid UTF-8 without control characters other
//	        than tab and newline (no U+0000–U+0008, U+000B–U+001F,
//	        U+007F–U+009F). An escape of a byte that may be written as itself
//	        is rejected, as is lowercase hex.
//
// An example:
//
//	custodes/entry/v1
//	kind statement
//	time 2026-12-01T19:00:00.123456Z
//	tenant agency
//	unit newark
//	analyst a7f3c2e1d4b5a697
//	authority-kind judicial_warrant
//	authority 9f2c…(64 hex digits)
//	class read
//	datasets public.persons,public.case_files
//	decision allow
//	rules
//	rows 1
//	subjects 1
//	subject-tokens t:3fa1c2d4e5f60718
//	policy 3
//	detail 5d41…(64 hex digits)
//
// In the transparency log, an entry's Merkle leaf hash is
// SHA-256(0x00 || entry), per RFC 6962. testdata/v1.txt holds test vectors
// (entries, their leaf hashes, and rejected encodings) for verifiers written
// in other languages.
//
// A future format gets a new first line; this package rejects any other.
package record
