"""The queue, the request lifecycle, the routing engine and its durable timers (pure domain)."""
