package api

import (
	"log/slog"
	"net/http"

	"github.com/logagg/logagg/shared/event"
)

// crossSiteProtection refuses the state-changing requests that a browser
// sends on behalf of a page from another site, keys or not: in open mode
// any page a person visits could otherwise publish events or replay dead
// letters with a no-cors fetch, which needs no preflight. Browsers say
// where a request comes from (Sec-Fetch-Site, Origin); clients that are not
// browsers (curl, SDKs, log shippers) send neither and are not affected.
// Pages of the trusted origins may write; GET, HEAD and OPTIONS always pass.
// fail answers the refusal in the route's own error form.
func crossSiteProtection(logger *slog.Logger, trusted []string, fail func(http.ResponseWriter, *http.Request, error)) *http.CrossOriginProtection {
	p := http.NewCrossOriginProtection()
	for _, o := range trusted {
		if err := p.AddTrustedOrigin(o); err != nil {
			// The configuration checks origins by this same rule at start,
			// so only a caller that bypassed it gets here.
			logger.Error("ALLOWED_ORIGINS: not an origin; ignored", "origin", o, "error", err)
		}
	}
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		logger.Debug("cross-site request refused", "method", r.Method, "path", r.URL.Path,
			"origin", origin, "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
		if origin == "" {
			origin = "another site"
		}
		fail(w, r, event.Errorf(forbidden,
			"cross-site request refused: a page from %s may not send %s %s here; the operator can trust its origin with ALLOWED_ORIGINS",
			origin, r.Method, r.URL.Path))
	}))
	return p
}
