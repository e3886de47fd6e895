"""The incident room: one server-rendered page per incident, and an overview of open ones.

`tokens.py` signs the sign-in links and sessions (pure), `chart.py` draws the SVG chart and
`render.py` the HTML (pure), `data.py` reads what the pages show, `routes.py` is the HTTP
edge (outside `/v1`: a browser's pages, signed in by a link or an API key, not a header).
"""
