"""Tests of the local runtime: topology, stores, launcher and the `chaosgate stack` commands."""
