"""The push service: device tokens in Redis, a notification per new chat message through the push provider."""
