"""`milk-hub web`: the officers' dashboard over what InfluxDB holds (docs/dashboard.md).

`summary.py` and `charts.py` are pure (rows in, numbers and SVG out);
InfluxDB is read through `hub.store`; `queries.py` reads the hub's data
folder; `statements.py` says where a period's statements come from (the
ledger's record of a closed period, or computed now); `users.py` keeps the
officers' password hashes; `app.py` is the Starlette shell.
"""
