"""The chat service: conversations, messages, WebSocket fan-out, presence, polling fallback and polls."""
