"""All I/O lives here: context pulls, LLM calls, outbound messages, audit writes."""
