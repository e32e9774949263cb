"""What Synapse's admin API (`/_synapse/admin`) does, on Veche's services: one module per
area of that API, each for server admins only (the API edge checks that)."""
