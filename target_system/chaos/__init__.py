"""SecureConnect's plugins for chaosgate: its probe plugin (user flows, ledger writers) and its `provider`
injector, registered by target_system/pyproject.toml's entry points. The services never import this."""
