"""Development tools that are not part of the function: the docs site's generator and hooks."""
