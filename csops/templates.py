"""Jinja2 templates under templates/: prompts, messages and artifacts."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError
from temporalio.exceptions import ApplicationError

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


@lru_cache(maxsize=1)
def _env() -> Environment:
    # StrictUndefined: a template naming a missing field is a bug, not a blank.
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **values) -> str:
    """Render a template.

    Raises:
        TemplateError: a missing template or value; a retry cannot fix it.
    """
    return _env().get_template(name).render(**values).strip() + "\n"


def render_for_activity(name: str, **values) -> str:
    """`render` inside an activity: a template error fails it for good (non-retryable),
    so the workflow shows the broken template instead of retrying forever."""
    try:
        return render(name, **values)
    except TemplateError as err:
        raise ApplicationError(f"template {name}: {err}", type="TemplateError",
                               non_retryable=True) from err
