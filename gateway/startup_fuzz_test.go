package gateway

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// FuzzStartupPacket feeds arbitrary bytes to the start-up phase's reader
// and decoder, the first thing any client reaches: they must never panic,
// never read past one packet, and decode only what fits the protocol.
func FuzzStartupPacket(f *testing.F) {
	start, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": "alice", "database": "agency", "options": "-c custodes.authority=W-1"}}).Encode(nil)
	v32, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion32,
		Parameters: map[string]string{"user": "alice", "_pq_.x": "1"}}).Encode(nil)
	ssl, _ := (&pgproto3.SSLRequest{}).Encode(nil)
	gss, _ := (&pgproto3.GSSEncRequest{}).Encode(nil)
	cancel, _ := (&pgproto3.CancelRequest{ProcessID: 1, SecretKey: []byte{1, 2, 3, 4}}).Encode(nil)
	for _, seed := range [][]byte{start, v32, ssl, gss, cancel, append(ssl, start...),
		{0, 0, 0, 8, 0, 4, 0, 0}, {0, 0, 0, 9, 0, 3, 0, 0, 0}, {0x16, 3, 1, 0, 200}, {0xff, 0xff, 0xff, 0xff}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		p, _, err := readStartupPacket(r)
		if err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(data))
		if len(p.body) != n-4 || r.Len() != len(data)-n || n > maxStartupPacket {
			t.Fatalf("read %d bytes of a %d-byte packet", len(data)-r.Len(), n)
		}
		switch p.code {
		case codeSSL, codeGSS:
			return
		case codeCancel:
			var m pgproto3.CancelRequest
			m.Decode(p.body)
			return
		}
		m, err := decodeStartup(p)
		if err != nil {
			return
		}
		if m.ProtocolVersion>>16 != 3 {
			t.Fatalf("decoded protocol %d", m.ProtocolVersion>>16)
		}
		parseOptions(m.Parameters["options"])
	})
}
