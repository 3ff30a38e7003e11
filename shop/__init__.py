"""The shop: a shopping cart as a decider, and its catalog. Pure Python: it imports only
emit's decider API, never the web app, SQL or a driver."""
