"""push-provider: a simulator of the third-party FCM-style push API, with a controllable failure mode."""
