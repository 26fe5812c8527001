"""The type names of csops' `ApplicationError`s, in one catalogue.

Where an error is raised decides whether a retry could help; the type name tells
workflows, the UI and tests which failure it was::

    ApplicationError
    ├── non-retryable (a retry cannot fix it)
    │   ├── NOT_FOUND            an account or ticket is not in the context database
    │   ├── POLICY_ERROR         a policy file is missing or invalid
    │   ├── TEMPLATE_ERROR       a template is missing or names a missing value
    │   ├── INVALID_ACCOUNT_ID   an account id that cannot name a directory
    │   ├── INTEGRITY_ERROR      a row the database refuses for good
    │   ├── LLM_REQUEST_REFUSED  the model endpoint refused the request (4xx but 429)
    │   ├── BAD_HANDLER_ARGUMENTS an update sent with the wrong number of arguments
    │   ├── DECISION_REFUSED     a `decide` update refused after it was accepted (who sent it)
    │   └── TICKET_WEBHOOK_REFUSED the ticket webhook refused the issue (4xx a retry cannot fix)
    └── retryable
        ├── RATE_LIMITED         the model endpoint said 429; retried after Retry-After
        └── TICKET_WEBHOOK_FAILED the ticket webhook failed (5xx) or did not answer
"""

from __future__ import annotations

NOT_FOUND = "NotFound"
POLICY_ERROR = "PolicyError"
TEMPLATE_ERROR = "TemplateError"
INVALID_ACCOUNT_ID = "InvalidAccountId"
INTEGRITY_ERROR = "IntegrityError"
LLM_REQUEST_REFUSED = "LlmRequestRefused"
RATE_LIMITED = "RateLimited"
BAD_HANDLER_ARGUMENTS = "BadHandlerArguments"
DECISION_REFUSED = "DecisionRefused"
TICKET_WEBHOOK_REFUSED = "TicketWebhookRefused"
TICKET_WEBHOOK_FAILED = "TicketWebhookFailed"
