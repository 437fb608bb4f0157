"""The function's AWS side: events into object refs, the service that takes one upload from S3 through the
pipeline and back, and the one module that talks to S3 and EventBridge (storage). The Lambda entry points
(`handler`, `dead_letters`) sit one level up, at the paths template.yaml names."""
