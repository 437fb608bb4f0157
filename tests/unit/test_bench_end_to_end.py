"""benchmarks/end_to_end.py's bookkeeping (the benchmark itself runs in tests/integration/test_bench.py)."""

from typing import Any

from benchmarks import end_to_end
from image_optimizer.aws.objects import ObjectRef, Outcome


def test_every_upload_of_every_phase_has_a_key_of_its_own() -> None:
    """A key used before would find renditions already there (a refused conditional PUT and a HEAD each): one
    phase would slow the next."""
    uploaded: list[str] = []

    class Client:
        def put_object(self, **request: Any) -> None:
            uploaded.append(request["Key"])

    class Service:
        def process(self, ref: ObjectRef) -> Outcome:
            return Outcome("processed", ref.bucket, ref.key)

    modes: Any = {"concurrent": Service(), "one at a time": Service()}
    for phase in ("writes-0", "writes-1", "reads-50"):
        end_to_end._compare(Client(), b"", "photo.jpg", modes, 2, phase)
    assert len(uploaded) == 3 * (2 + 1) * 2 and len(set(uploaded)) == len(uploaded)
