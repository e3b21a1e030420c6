"""Realistic load with Locust, always in processes of its own (gevent must never patch the harness)."""
