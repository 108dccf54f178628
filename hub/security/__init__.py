"""Who may talk to the broker and whose deliveries the hub believes.

`milk-hub provision` (docs/security.md) makes the broker's TLS material, a
station's broker login, HMAC key and config fragment, and revokes a station;
`keys.KeyStore` is the hub's list of station keys with their revocation
times, read by the ingest's seal check.
"""
