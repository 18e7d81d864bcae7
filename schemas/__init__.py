"""The manifest JSON Schema (package data)."""
