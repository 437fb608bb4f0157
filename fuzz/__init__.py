"""Coverage-guided fuzzing of the decoders and the pipeline (atheris). `make fuzz`; not part of `make test`."""
