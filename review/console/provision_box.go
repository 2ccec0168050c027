package console

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/cunbo/cunbo/review/boxauth"
	"github.com/cunbo/cunbo/review/store"
)

// BundlePath is where a box fetches the newest setup bundle published for
// it (the network path; see review/README.md for the contract):
//
//	GET /api/box/bundle?have=VERSION   Authorization: Bearer <token>
//
// 200 with the bundle (application/octet-stream; X-Cunbo-Bundle-Version
// and X-Cunbo-Bundle-Sha256 headers) when one newer than VERSION was
// published for this box, 204 when none is, 400 for a bad have, 401/403
// as for every box request. A box only ever gets its own bundles; it still
// verifies what it gets with bundle.Open, the server being no part of the
// trust chain.
const BundlePath = "/api/box/bundle"

// Headers of a bundle download.
const (
	BundleVersionHeader = "X-Cunbo-Bundle-Version"
	BundleSHA256Header  = "X-Cunbo-Bundle-Sha256"
)

func (c *Console) boxBundle(w http.ResponseWriter, r *http.Request) {
	b, aerr := c.auth.Authenticate(r)
	if aerr != nil {
		boxauth.WriteError(w, aerr)
		return
	}
	var have uint64
	if s := r.URL.Query().Get("have"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			boxauth.WriteError(w, &boxauth.Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "have must be the version the box has (a non-negative integer)"})
			return
		}
		have = v
	}
	pb, err := c.st.LatestBundle(r.Context(), b.ID)
	if errors.Is(err, store.ErrNotFound) || err == nil && pb.Version <= have {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err != nil {
		c.log.Error("console: box bundle", "box", b.ID, "err", err)
		boxauth.WriteError(w, &boxauth.Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "try again later"})
		return
	}
	rc, err := c.blobs.Open(r.Context(), pb.BlobKey)
	if err != nil {
		c.log.Error("console: box bundle", "box", b.ID, "key", pb.BlobKey, "err", err)
		boxauth.WriteError(w, &boxauth.Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "try again later"})
		return
	}
	defer rc.Close()
	e := store.AuditEntry{At: c.now(), Actor: "box:" + b.ID, Action: "bundle.fetch", Subject: b.ID,
		Detail: joinDetail("version="+strconv.FormatUint(pb.Version, 10)+" have="+strconv.FormatUint(have, 10), "from="+from(r))}
	if err := c.st.AppendAudit(r.Context(), e); err != nil {
		c.log.Error("console: audit", "action", e.Action, "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(pb.Size, 10))
	h.Set(BundleVersionHeader, strconv.FormatUint(pb.Version, 10))
	h.Set(BundleSHA256Header, pb.SHA256)
	h.Set("Cache-Control", "no-store")
	if _, err := io.Copy(w, rc); err != nil {
		c.log.Info("console: box bundle: cut off", "box", b.ID, "err", err)
	}
}
