"""Email addresses as the policy files, the decide protocol and the outbox accept
them. Apart from the policy models so a command that only checks an address (say,
`csops ticket --requester`) does not build every policy model first (≈ 80 ms)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def email_address(value: str) -> str:
    """One email address, normalized (an IDN domain in ASCII). Deliverability (DNS)
    is not checked, and the demo's .test domains are accepted.

    Raises:
        ValueError: not a single valid address, said in one sentence
            (`"a@x, b@evil.test"` is two addresses, not one).
    """
    try:
        checked = validate_email(value.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError as err:
        raise ValueError(f"{value!r} is not an email address: {err}") from None
    return checked.ascii_email or checked.normalized
