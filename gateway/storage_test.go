package gateway_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custodes/custodes/internal/teststack"
	"github.com/custodes/custodes/record"
	"github.com/custodes/custodes/translog"
)

// TestStorageAttestation checks the sampler's public record: dataset sizes,
// and alerts when someone could go around the gateway.
func TestStorageAttestation(t *testing.T) {
	st := teststack.Start(t, 2500)
	ctx := context.Background()
	if err := st.Service.SampleStorage(ctx); err != nil {
		t.Fatal(err)
	}
	// Open two ways around custodes: a role with its own grant, and a
	// session with the gateway's credentials that is not the gateway.
	admin := st.Admin(t)
	for _, q := range []string{"CREATE ROLE snoop LOGIN PASSWORD 'snoop'", "GRANT SELECT ON persons TO snoop"} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		c, _ := pgx.Connect(context.Background(), st.AdminURL)
		c.Exec(context.Background(), "REVOKE ALL ON persons FROM snoop")
		c.Exec(context.Background(), "DROP ROLE snoop")
		c.Close(context.Background())
	})
	u, _ := url.Parse(st.Config.Backend.URL)
	direct, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	if err := st.Service.SampleStorage(ctx); err != nil {
		t.Fatal(err)
	}

	time.Sleep(1500 * time.Millisecond)
	src, _ := translog.OpenSource(st.LogDir)
	var attests []*record.Entry
	alerts := map[string]string{}
	if _, err := translog.Verify(ctx, src, st.VKey, translog.VerifyOptions{Entry: func(_ uint64, b []byte) error {
		e, err := record.Parse(b)
		if err != nil {
			return err
		}
		attr := map[string]string{}
		for _, a := range e.Attrs {
			attr[a.Key] = a.Value
		}
		switch e.Kind {
		case record.KindStorageAttestation:
			attests = append(attests, e)
		case record.KindAlert:
			alerts[attr["kind"]] = attr["detail"]
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	if len(attests) < 2 {
		t.Fatalf("%d storage attestations, want at least 2", len(attests))
	}
	attr := map[string]string{}
	for _, a := range attests[len(attests)-1].Attrs {
		attr[a.Key] = a.Value
	}
	if n, _ := strconv.Atoi(attr["rows.public.persons"]); n != 2500 {
		t.Errorf("rows.public.persons = %q, want 2500", attr["rows.public.persons"])
	}
	if b, _ := strconv.Atoi(attr["bytes.public.location_pings"]); b < 100000 {
		t.Errorf("bytes.public.location_pings = %q", attr["bytes.public.location_pings"])
	}
	if !strings.Contains(attr["readers"], "snoop") {
		t.Errorf("readers = %q, want snoop among them", attr["readers"])
	}
	if !strings.Contains(alerts["bypass_role"], "snoop") {
		t.Errorf("no bypass_role alert naming snoop: %v", alerts)
	}
	if !strings.Contains(alerts["bypass_session"], u.User.Username()+"@") {
		t.Errorf("no bypass_session alert for the direct session: %v", alerts)
	}
}
