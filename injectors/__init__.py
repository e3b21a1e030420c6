"""Fault injectors: one module per fault family, each behind one small interface."""
