"""Pure Matrix rules: no I/O, no clock, no database.

Nothing in this package imports the rest of Veche; everything here can be unit-tested
against the specification's own examples.
"""
