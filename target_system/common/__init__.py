"""Building blocks every SecureConnect service shares: errors, the app factory, stores, tokens, metrics."""
