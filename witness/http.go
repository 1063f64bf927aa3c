package witness

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// ServeHTTP serves the tlog-witness API: POST /add-checkpoint (mount it
// with http.StripPrefix under another submission prefix). The status codes
// are the spec's: 200 with the cosignature lines; 400 malformed; 403 not
// signed by a trusted key; 404 unknown origin; 409 Conflict, with the
// witness's size as text/x.tlog.size unless the roots of equal sizes
// differ; 422 bad consistency proof; 413 too large; 500 if the state
// cannot be read or written (then nothing was cosigned).
func (w *Witness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/add-checkpoint" {
		http.NotFound(rw, r)
		return
	}
	if r.Method != http.MethodPost {
		rw.Header().Set("Allow", "POST")
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			http.Error(rw, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(rw, "couldn't read the request", http.StatusBadRequest)
		return
	}
	oldSize, proof, cp, err := parseRequest(body)
	if err == nil {
		var sigs []byte
		if sigs, err = w.Add(oldSize, proof, cp); err == nil {
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			rw.Write(sigs)
			return
		}
	}
	var conflict *ConflictError
	switch {
	case errors.As(err, &conflict) && !conflict.Fork:
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", conflict.Size)
	case conflict != nil:
		http.Error(rw, err.Error(), http.StatusConflict)
	case errors.Is(err, ErrMalformed):
		http.Error(rw, err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrNotSigned):
		http.Error(rw, err.Error(), http.StatusForbidden)
	case errors.Is(err, ErrUnknownLog):
		http.Error(rw, err.Error(), http.StatusNotFound)
	case errors.Is(err, ErrInconsistent):
		http.Error(rw, err.Error(), http.StatusUnprocessableEntity)
	default:
		w.log.Error("witness failed", "err", err)
		http.Error(rw, "internal error", http.StatusInternalServerError)
	}
}
