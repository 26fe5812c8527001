"""Typed search-attribute keys: the contract the UI's filters and `csops inbox`
rely on, and the account's attributes as one piece (set at start, kept in sync)."""

from __future__ import annotations

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    SearchAttributeUpdate,
    TypedSearchAttributes,
)

from contracts.accounts import AccountFacts

ACCOUNT_ID = SearchAttributeKey.for_keyword("CsopsAccountId")
SEGMENT = SearchAttributeKey.for_keyword("CsopsSegment")
ARR = SearchAttributeKey.for_float("CsopsArr")
STAGE = SearchAttributeKey.for_keyword("CsopsStage")
PENDING_APPROVALS = SearchAttributeKey.for_int("CsopsPendingApprovals")
APPROVERS = SearchAttributeKey.for_keyword_list("CsopsApprovers")
# The account's health score (0-100) on its watch workflow: `CsopsHealth < 40`.
HEALTH = SearchAttributeKey.for_int("CsopsHealth")

ALL: list[SearchAttributeKey] = [
    ACCOUNT_ID,
    SEGMENT,
    ARR,
    STAGE,
    PENDING_APPROVALS,
    APPROVERS,
    HEALTH,
]

# `temporal server start-dev --search-attribute NAME=TYPE` spelling of each key.
CLI_TYPES: dict[SearchAttributeKey, str] = {
    ACCOUNT_ID: "Keyword",
    SEGMENT: "Keyword",
    ARR: "Double",
    STAGE: "Keyword",
    PENDING_APPROVALS: "Int",
    APPROVERS: "KeywordList",
    HEALTH: "Int",
}


def account_updates(account: AccountFacts) -> list[SearchAttributeUpdate]:
    """The account's attributes, for `workflow.upsert_search_attributes`."""
    updates: list[SearchAttributeUpdate] = [
        ACCOUNT_ID.value_set(account.account_id),
        SEGMENT.value_set(account.segment),
        ARR.value_set(account.arr),
    ]
    # Only once the account has a score: older histories upserted these three alone.
    if account.health is not None:
        updates.append(HEALTH.value_set(account.health))
    return updates


def at_start(account: AccountFacts) -> TypedSearchAttributes:
    """What a workflow about this account carries from its start: nothing waits yet."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(ACCOUNT_ID, account.account_id),
            SearchAttributePair(SEGMENT, account.segment),
            SearchAttributePair(ARR, account.arr),
            SearchAttributePair(STAGE, "starting"),
            SearchAttributePair(PENDING_APPROVALS, 0),
            *([SearchAttributePair(HEALTH, account.health)] if account.health is not None else []),
        ]
    )
