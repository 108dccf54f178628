"""`milk-hub web`: the officers' dashboard over what InfluxDB holds (docs/dashboard.md).

`summary.py` and `charts.py` are pure (rows in, numbers and SVG out);
`queries.py` reads InfluxDB and the hub's data folder; `users.py` keeps
the officers' password hashes; `app.py` is the Starlette shell.
"""
