# Settings for the cart dashboard. Copy this file to instance/config.py (which is not committed)
# and change what you need. Environment variables win over this file: FLASK_<NAME>, for example
# FLASK_EMIT_STORE_URL or FLASK_SECRET_KEY.

# Signs the session cookie that carries the CSRF secret. Use a long random value, the same in
# every process that serves the site, for example from:
#   python -c 'import secrets; print(secrets.token_hex(32))'
SECRET_KEY = "change-me"

# Where the events are stored. The default is a SQLite file in this folder:
#   EMIT_STORE_URL = "sqlite:////absolute/path/to/instance/emit.sqlite3"
# PostgreSQL (through psycopg 3; create the database first, then run `flask --app webapp init-db`):
#   EMIT_STORE_URL = "postgresql://shop:secret@127.0.0.1:5432/shop"

# How many live carts each process keeps in memory (least recently used ones go first).
# EMIT_POOL_SIZE = 1000

# Rows per page on the dashboard.
# CARTS_PER_PAGE = 20

# Behind HTTPS, keep the session cookie off plain HTTP.
# SESSION_COOKIE_SECURE = True
