"""`modalc import APP.py --out DIR`: an existing Modal app as a modalc project.

Stages, like the compiler's: `sdk` imports the app offline with the real SDK and records what it builds;
`mapping` (with `images`, `entrypoints`, `values`) turns the records into manifest data, a problem per thing a
manifest cannot say; `rewrite` turns the user's modules into handler modules; `emit` writes TOML or YAML;
`project` checks the new project compiles and writes it all, or nothing. `generated` reads back a module
modalc itself generated (the round trip).
"""

from __future__ import annotations

from .project import ImportOptions, ImportOutcome, import_app

__all__ = ["ImportOptions", "ImportOutcome", "import_app"]
