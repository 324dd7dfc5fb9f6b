"""Vigil's HTTP endpoints other than GraphQL: each module exposes `routes() -> list[Route]` for app.py."""
