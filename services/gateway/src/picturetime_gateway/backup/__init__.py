"""Backups of the catalog and every bucket into a folder, and their verified restore.

`picturetime-gateway backup DIR` writes DIR/catalog.* (pg_dump or a SQLite copy), mirrors each
bucket into DIR/buckets/<bucket>/<key>, and describes it all in DIR/manifest.json (sizes,
SHA-256, content types, user metadata and object tags). `restore DIR` checks every file against
the manifest before it changes anything.
"""
