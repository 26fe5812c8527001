"""The context layer: what csops knows about each customer."""
