"""The gateway: routes `/v1/<backend>/*` (HTTP and WebSocket) to backends, with rate limits and breakers."""
