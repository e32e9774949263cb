"""GET /sync: everything a client needs to catch up, from one token to the next."""
