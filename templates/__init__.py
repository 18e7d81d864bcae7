"""Jinja templates of the generated modules (package data)."""
