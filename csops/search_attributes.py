"""Typed search-attribute keys (the contract the UI filters and `csops inbox` rely on)."""

from temporalio.common import SearchAttributeKey

ACCOUNT_ID = SearchAttributeKey.for_keyword("CsopsAccountId")
SEGMENT = SearchAttributeKey.for_keyword("CsopsSegment")
ARR = SearchAttributeKey.for_float("CsopsArr")
STAGE = SearchAttributeKey.for_keyword("CsopsStage")
PENDING_APPROVALS = SearchAttributeKey.for_int("CsopsPendingApprovals")
APPROVERS = SearchAttributeKey.for_keyword_list("CsopsApprovers")

ALL = [ACCOUNT_ID, SEGMENT, ARR, STAGE, PENDING_APPROVALS, APPROVERS]

# `temporal server start-dev --search-attribute NAME=TYPE` spelling of each key.
CLI_TYPES = {
    ACCOUNT_ID: "Keyword",
    SEGMENT: "Keyword",
    ARR: "Double",
    STAGE: "Keyword",
    PENDING_APPROVALS: "Int",
    APPROVERS: "KeywordList",
}
