"""`python -m modalc.schema_source [--check]`: write (or check) the generated schema files."""

import sys

from .generate import main

sys.exit(main())
