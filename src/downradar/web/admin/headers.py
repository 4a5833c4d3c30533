"""The headers every admin response carries: never stored by any cache, and the admin pages' own CSP."""

NO_STORE = {"Cache-Control": "no-store", "Vary": "Cookie"}
# The public pages' policy, plus the admin pages' own optional script (static/admin.js).
ADMIN_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
