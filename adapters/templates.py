"""Rendering the Jinja2 templates under templates/: prompts, messages and
artifacts, all from one environment."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from temporalio.exceptions import ApplicationError

from contracts import errors
from templates import TEMPLATE_DIR


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        # StrictUndefined: a template naming a missing field is a bug, not a blank.
        undefined=StrictUndefined,
        # HTML artifacts show customer text (account names, ticket subjects): escaped.
        # Markdown and plain-text messages go out as written.
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **values: Any) -> str:
    """Render a template.

    Raises:
        TemplateError: a missing template or value; a retry cannot fix it.
    """
    return _env().get_template(name).render(**values).strip() + "\n"


def render_for_activity(name: str, **values: Any) -> str:
    """`render` inside an activity: a template error fails it for good (non-retryable),
    so the workflow shows the broken template instead of retrying forever."""
    try:
        return render(name, **values)
    except TemplateError as err:
        raise ApplicationError(
            f"template {name}: {err}", type=errors.TEMPLATE_ERROR, non_retryable=True
        ) from err
