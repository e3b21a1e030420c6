"""The local runtime: the stack's stores, fault proxy and services as processes of this machine."""
