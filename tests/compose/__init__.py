"""The compose runtime under a real Docker engine (a package: its stack is torn down when its tests end)."""
