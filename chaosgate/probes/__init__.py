"""Probes: one per feature and one per service health, each sample classified by outcome."""
