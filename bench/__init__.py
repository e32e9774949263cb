"""Benchmarks of Veche against Synapse over the Client-Server API; see docs/benchmarks.md."""
