"""The auth service: register, login, refresh, logout, me; users in SQL, sessions and lockout in Redis."""
