"""The local tools: each module is the `python -m image_optimizer <command>` of its name (`run`, `invoke`
for invoke-local, `optimize`, `rerender`). They drive the function as Lambda would; the function never
imports them."""

USAGE_ERROR = 2  # the exit status of a command given wrong arguments or settings
