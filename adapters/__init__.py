"""The outside world behind small interfaces: settings from the environment, the
Temporal client, LLM providers (offline engine, OpenAI), delivery channels,
template rendering, and starting workflows by business key."""
