"""`modalc validate --format json` report -> GitLab Code Quality report (docs/ci.md).

    python .gitlab/modalc_codequality.py modalc-validate.json > gl-code-quality-report.json

Each diagnostic becomes one issue at its file and line; the fingerprint leaves the line out, so an issue that
only moved is not reported as new.
"""

import hashlib
import json
import sys

SEVERITY = {"error": "major", "warning": "minor"}

with open(sys.argv[1], encoding="utf-8") as handle:
    report = json.load(handle)
issues = []
for diagnostic in report["diagnostics"]:
    key = diagnostic["key_path"]
    identity = json.dumps([diagnostic["file"], key, diagnostic["message"]])
    issues.append(
        {
            "description": f"{key}: {diagnostic['message']}" if key else diagnostic["message"],
            "check_name": f"modalc {diagnostic['severity']}",
            "fingerprint": hashlib.sha256(identity.encode()).hexdigest(),
            "severity": SEVERITY[diagnostic["severity"]],
            "location": {"path": diagnostic["file"], "lines": {"begin": diagnostic["line"] or 1}},
        }
    )
json.dump(issues, sys.stdout, indent=2)
print()
