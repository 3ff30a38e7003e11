# Settings for the cart dashboard. Copy this file to instance/config.py (which is not committed)
# and change what you need. Environment variables win over this file: FLASK_<NAME>, for example
# FLASK_EMIT_STORE_URL or FLASK_SECRET_KEY.

# Signs the session cookie that carries the CSRF secret, the signed-in operator and the carts a
# shopper opened. Use a long random value, the same in every process that serves the site, for
# example from:
#   python -c 'import secrets; print(secrets.token_hex(32))'
SECRET_KEY = "change-me"

# Where the events are stored. The default is a SQLite file in this folder:
#   EMIT_STORE_URL = "sqlite:////absolute/path/to/instance/emit.sqlite3"
# PostgreSQL (through psycopg 3; create the database first, then run `flask --app webapp init-db`):
#   EMIT_STORE_URL = "postgresql://shop:secret@127.0.0.1:5432/shop"

# Seconds any wait for the database may last (connecting, a pooled connection, a statement, a
# lock; SQLite's busy timeout). A request to a database that is down or hangs answers 503 after
# about this long.
# EMIT_STORE_TIMEOUT = 5.0

# How many live carts each process keeps in memory (least recently used ones go first).
# EMIT_POOL_SIZE = 1000

# How many refused commands the store keeps (the newest), shown in each cart's history and by
# `flask emit refusals`; 0 keeps none.
# EMIT_REFUSAL_RETENTION = 10_000

# Production: the dashboard of every cart, and any cart's page and history, are for signed-in
# operators (flask --app webapp create-operator NAME); a shopper sees only the carts opened in
# their own browser session. True is the demo's default: everything public, and it says so.
CARTS_PUBLIC = False

# Rows per page on the dashboard, and products in its best sellers.
# CARTS_PER_PAGE = 20
# BEST_SELLERS = 5

# The policies (receipts) run in a background thread of each web process, started by its first
# request; leases in the database let one runner at a time work on each policy. Turn it off when
# `flask --app webapp emit run-policies` runs them in a process of their own.
# EMIT_RUN_POLICIES = True  (was EMIT_RUN_SUBSCRIBERS, still read)
# The longest a runner waits before looking for events other processes appended (seconds).
# EMIT_POLICIES_POLL_INTERVAL = 1.0  (was EMIT_SUBSCRIBERS_POLL_INTERVAL, still read)

# Issuing a receipt: tries before a checkout becomes a dead letter, and the wait after the first
# failure (seconds; it doubles after each next one).
# RECEIPTS_MAX_ATTEMPTS = 4
# RECEIPTS_FIRST_RETRY_WAIT = 1.0

# Seconds between refreshes of the operations page (/ops) while it is open.
# OPS_REFRESH_SECONDS = 2

# Events per page of a cart's history.
# HISTORY_EVENTS_PER_PAGE = 100

# The host names the site answers to; a request for any other gets 400 (a leading dot: any
# subdomain). The default only answers on this machine.
# TRUSTED_HOSTS = ["shop.example", "www.shop.example"]

# How many reverse proxies in front of the app set X-Forwarded-For and X-Forwarded-Proto (one
# nginx: 1). Never more than there are: a client can send those headers itself.
# TRUSTED_PROXY_COUNT = 1

# Reached over HTTPS only: the session cookie becomes Secure, and Strict-Transport-Security
# tells browsers to come back over HTTPS for HSTS_MAX_AGE seconds (start small).
# HTTPS_ONLY = True
# HSTS_MAX_AGE = 365 * 24 * 3600

# Rate limits per client address (new carts; every other POST) and per cart (its commands,
# from everyone together); over one, 429 with Retry-After.
# RATE_LIMIT_NEW_CARTS = "30 per minute"
# RATE_LIMIT_ACTIONS = "120 per minute"
# RATE_LIMIT_CART_COMMANDS = "60 per minute; 1000 per day"
# Where the counts live: memory:// counts per process; a shared store counts for every worker
# and host (pip install 'limits[redis]').
# RATELIMIT_STORAGE_URI = "redis://127.0.0.1:6379"

