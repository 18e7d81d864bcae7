"""modalc: compile declarative TOML/YAML manifests into deployable Modal apps."""

__version__ = "0.1.0"
