"""The pure imaging pipeline: an upload's bytes in, its renditions out (pipeline.optimize). No AWS, no
environment, no I/O beyond the file it is given; it imports only itself, `specs` and `errors`."""
