"""The web UI: server-rendered pages at ``/ui`` (Jinja2, htmx, inline SVG charts)."""
