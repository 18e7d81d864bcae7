"""Tests of the local fake Modal control plane (modalc.control_plane)."""
