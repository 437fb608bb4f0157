"""The local tools: each module is the `python -m image_optimizer <command>` of its name (`run`, `invoke`
for invoke-local, `optimize`, `rerender`). They drive the function as Lambda would; the function never
imports them."""
