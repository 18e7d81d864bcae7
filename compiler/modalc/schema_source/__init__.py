"""The manifest schema's source and its generator (a development tool: modalc never imports it at run time).

`manifest.py` is the schema as written by hand; `generate.py` turns it into the published schema. Add or
change manifest keys in `manifest.py` only, then run `make schema`.
"""
