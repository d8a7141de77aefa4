"""A small library catalogue: authors and their books (the pytest plugin's example)."""
