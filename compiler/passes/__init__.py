"""Graph rewrites, each a function ``(graph) -> None`` named for what it does."""
