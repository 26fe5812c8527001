"""The bottom layer: everything that crosses Temporal.

Message models by feature, the Temporal names (workflow types, signals, updates,
queries, schedule and patch ids), workflow-id builders, search attributes, error
type names and the data converter. Imports only pydantic and temporalio's
`common` and `contrib.pydantic`, so every other layer may import it, workflow
code included.
"""
