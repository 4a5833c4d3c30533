"""The HTTP side: `app` builds the application (its lifespan builds the `runtime.Runtime` every request
reads and supervises the background loops); `api/` the JSON API (v1 and Statuspage v2), `pages/` the
HTML pages, `render/` the SVG and chart renderers, `serving/` the machinery in front of the framework (page
cache, RSGI bridge, report fast path, metrics), `admin/` the admin UI."""
