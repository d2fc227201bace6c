package handlers

import (
	"net/url"
	"strings"
)

// localPath keeps the redirect after login on this site: p when it is a
// path of this site as a browser reads it, else "/".
//
// A browser does not take a Location header literally: the WHATWG URL
// parser drops TAB, CR and LF anywhere, trims leading spaces and controls,
// and reads "\" as "/". So "/\t/evil.example" and "/\t\\evil.example"
// (next=/%09/evil.example, /%09%5Cevil.example) become "//evil.example",
// another site. p itself must need none of that: printable ASCII without a
// backslash, one leading slash, no scheme or host (the links we make,
// requireUser's escaped RequestURI, always are). Its once-decoded form
// must still read as a path of this site after the browser's
// normalisation, so that whatever decodes it once more (a proxy, a client)
// cannot make "/%2F%2Fevil.example" or "/%5Cevil.example" another site.
func localPath(p string) string {
	if !plainPath(p) {
		return "/"
	}
	if dec, err := url.PathUnescape(p); err != nil || offSite(dec) {
		return "/"
	}
	return p
}

// plainPath: printable ASCII, no backslash, exactly one leading slash, and
// a URL with neither scheme nor host.
func plainPath(p string) bool {
	if len(p) == 0 || p[0] != '/' || len(p) > 1 && p[1] == '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.Opaque == ""
}

// offSite reports whether a browser, following p as a Location, could
// leave this site: after its normalisation p must start with exactly one
// slash (anything else is a scheme, a host or a relative reference).
func offSite(p string) bool {
	p = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\r', '\n':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, p)
	p = strings.TrimLeftFunc(p, func(r rune) bool { return r <= ' ' })
	return !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//")
}
