"""Every Temporal name csops owns, spelled once.

Workflows, the CLI, Schedules, the inbox and the tests refer to these constants;
a name typed twice is how a signal ends up sent to nobody. Renaming any of them
breaks running workflows and committed histories: they are a contract.
"""

from __future__ import annotations

# Workflow types
ESCALATION_WORKFLOW = "EscalationWorkflow"
ONBOARDING_WORKFLOW = "OnboardingWorkflow"
RENEWAL_PACKAGE_WORKFLOW = "RenewalPackageWorkflow"
RENEWAL_SWEEP_WORKFLOW = "RenewalSweepWorkflow"
CSM_DIGEST_WORKFLOW = "CsmDigestWorkflow"
HEALTH_SWEEP_WORKFLOW = "HealthSweepWorkflow"
HEALTH_DIGEST_WORKFLOW = "HealthDigestWorkflow"
ACCOUNT_WATCH_WORKFLOW = "AccountWatch"
INVESTIGATION_WORKFLOW = "InvestigationWorkflow"  # investigations and QBR narratives
REVIEW_WORKFLOW = "ReviewWorkflow"  # `review/{sent message key}`: a sampled send, graded

# The human-decision protocol, the same on every workflow that asks a human
DECIDE = "decide"  # a signal (for the UI) and an update (for programs)
HUMAN_REQUESTS_QUERY = "human_requests"
HUMAN_HISTORY_QUERY = "human_history"

# The outbox dispatcher tells the sending workflow a message was delivered or failed
DELIVERY_OUTCOME_SIGNAL = "delivery_outcome"

# Escalation
ESCALATION_STATE_QUERY = "escalation_state"

# Onboarding
CUSTOMER_EVENT_SIGNAL = "customer_event"
PAUSE_SIGNAL = "pause"
RESUME_SIGNAL = "resume"
ONBOARDING_PLAN_QUERY = "onboarding_plan"

# Renewal
RENEWAL_ARTIFACT_QUERY = "renewal_artifact"
SWEEP_PROGRESS_QUERY = "sweep_progress"

# The account watch (`health/{account_id}`): the sweep's findings for one night
HEALTH_SCORED_SIGNAL = "health_scored"
ACCOUNT_WATCH_QUERY = "account_watch"

# Investigation
INVESTIGATION_QUERY = "investigation"

# The SDK's built-in query behind the UI's current details
WORKFLOW_METADATA_QUERY = "__temporal_workflow_metadata"

# Schedules, and the id prefix of the workflows they start (the Schedule appends the time)
RENEWAL_SWEEP_SCHEDULE = "renewal-sweep-nightly"
RENEWAL_SWEEP_RUN_PREFIX = "renewal-sweep"
CSM_DIGEST_SCHEDULE = "csm-digest-daily"
CSM_DIGEST_RUN_PREFIX = "csm-digest"
HEALTH_SWEEP_SCHEDULE = "health-sweep-nightly"
HEALTH_SWEEP_RUN_PREFIX = "health-sweep"
HEALTH_DIGEST_SCHEDULE = "health-digest-weekly"
HEALTH_DIGEST_RUN_PREFIX = "health-digest"

# Patch ids (workflow.patched): each keeps histories recorded before it replaying
PATCH_RENEWAL_TERMS_REQUESTS = "renewal-terms-requests"
PATCH_RENEWAL_SUMMARY = "renewal-summary"
PATCH_GROUNDED_REPLIES = "grounded-replies"
PATCH_VERIFIED_DECIDERS = "verified-deciders"
PATCH_APPROVALS_RECHECKED = "approvals-rechecked"
PATCH_DELIVERY_CONFIRMED = "delivery-confirmed"
PATCH_NOTIFY_SOONER = "notify-sooner"
PATCH_RENEWAL_ONE_READ = "renewal-one-read"
PATCH_ESCALATION_LEAN = "escalation-lean"
PATCH_ONBOARDING_READS_AT_ONCE = "onboarding-reads-at-once"
PATCH_WATCH_REQUEST_DETAIL = "watch-request-detail"
# A band getting worse opens an internal ticket too (before: NPS detractors only).
PATCH_WATCH_BAND_TICKET = "watch-band-ticket"
# A sampled supervised send opens a review (a workflow of its own, opened by an activity).
PATCH_REVIEW_REQUESTS = "review-requests"
