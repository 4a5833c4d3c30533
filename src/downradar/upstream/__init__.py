"""Upstream status feeds: what providers admit on their own status pages (Statuspage summary.json, Atom
and RSS), polled politely, stored as a history of changes and mapped onto our components."""
