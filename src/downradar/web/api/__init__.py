"""The JSON API: reports, incidents and maintenance, alert routes, probes, official status, events, the
Statuspage v2 documents and the operations endpoints. `models.py` holds the admin request bodies, which
the admin UI's forms validate too."""
