"""Load and validate the policy files; a bad file names the file, field and reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from policies.model import (
    AutonomyPolicy,
    HealthPolicy,
    OnboardingPolicy,
    PolicySet,
    RenewalPolicy,
    RoutingPolicy,
)
from templates import TEMPLATE_DIR

DEFAULT_POLICY_DIR = Path(__file__).resolve().parent
POLICY_FILES: dict[str, tuple[str, type[BaseModel]]] = {
    "autonomy": ("autonomy.yaml", AutonomyPolicy),
    "routing": ("routing.yaml", RoutingPolicy),
    "onboarding": ("onboarding.yaml", OnboardingPolicy),
    "renewal": ("renewal.yaml", RenewalPolicy),
    "health": ("health.yaml", HealthPolicy),
}


class PolicyError(Exception):
    """A policy file is missing or invalid. The message is meant for a human."""


# The C parser where it is built (~8x faster than the pure-Python one), refusing
# duplicate keys: a second `issue_refund:` must not silently replace the first.
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)

# The last policy set parsed, by content version: workflows load the policy at every
# start, and parsing is the cost, not reading four small files.
_parsed: dict[str, PolicySet] = {}


def _describe(error: ErrorDetails) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(top level)"
    return f"{field}: {error['msg']}"


def _missing_templates(path: Path, onboarding: OnboardingPolicy) -> list[str]:
    """Templates named by the plans must exist (checked here: the models are
    also decoded inside workflows, where no file may be read)."""
    return [
        f"{path}: plans.{segment}.{m.id}: template messages/{name} does not exist"
        for segment, plan in onboarding.plans.items()
        for m in plan.milestones
        for name in (m.template, m.nudge)
        if name and not (TEMPLATE_DIR / "messages" / name).is_file()
    ]


def load_policies(directory: Path | None = None) -> PolicySet:
    """Read every policy file, validate it, and hash the contents into a version.

    Args:
        directory: the policy folder (CSOPS_POLICY_DIR); None for the shipped one.

    Raises:
        PolicyError: with one line per problem, each naming the file and field.
    """
    directory = Path(directory or DEFAULT_POLICY_DIR)
    raws: dict[str, bytes] = {}
    digest = hashlib.sha256()
    problems: list[str] = []
    for key, (filename, _) in POLICY_FILES.items():
        path = directory / filename
        try:
            raws[key] = path.read_bytes()
        except OSError as err:
            problems.append(f"{path}: cannot read ({err.strerror})")
            continue
        digest.update(filename.encode() + b"\0" + raws[key] + b"\0")
    version = digest.hexdigest()[:12]
    if not problems and version in _parsed:
        return _parsed[version]
    parts: dict[str, BaseModel] = {}
    for key, raw in raws.items():
        filename, model = POLICY_FILES[key]
        path = directory / filename
        try:
            data = yaml.load(raw, Loader=_Loader)
        except yaml.YAMLError as err:
            problems.append(f"{path}: not valid YAML: {err}".replace("\n", " "))
            continue
        try:
            parts[key] = model.model_validate(data if data is not None else {})
        except ValidationError as err:
            problems.extend(f"{path}: {_describe(e)}" for e in err.errors())
    onboarding = parts.get("onboarding")
    if isinstance(onboarding, OnboardingPolicy):
        problems.extend(_missing_templates(directory / "onboarding.yaml", onboarding))
    if problems:
        raise PolicyError("invalid policy files:\n  " + "\n  ".join(problems))
    try:
        policies = PolicySet(version=version, **parts)
    except ValidationError as err:
        raise PolicyError(
            "invalid policy files:\n  "
            + "\n  ".join(f"{directory}: {e['msg']}" for e in err.errors())
        ) from None
    _parsed.clear()  # only the latest is kept
    _parsed[version] = policies
    return policies
