"""SecureConnect: the reference microservice stack chaosgate ships as its own target."""
