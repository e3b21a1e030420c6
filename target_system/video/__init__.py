"""The video service: calls in SQL, signaling over WebSocket and Redis pub/sub, stale-call cleanup."""
