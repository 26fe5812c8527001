"""Jinja2 templates: prompts/, messages/ and artifacts/. A package only so the
folder ships with csops and every layer finds it in one place."""

from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parent
