"""One Lambda invocation in a process of its own, as Lambda runs it: `python child.py HANDLER EVENT_FILE DEATH`.

HANDLER: `main` (handler.lambda_handler) or `dead_letters`. While decoding an image whose PNG text chunk says
`poison=crash`, the process dies without running any more Python: DEATH `exit` (os._exit, as a native abort) or
`sigkill` (as Lambda's out-of-memory kill). Prints the handler's answer as JSON (exit 0), or the error as Lambda's
runtime reports an exception (errorType, errorMessage; exit 1), on a last line starting RESULT (logs go to stdout
too)."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from image_optimizer.imaging import decode

_load = decode.load
DEATH = sys.argv[3]


def load(decoded: decode.Decoded) -> object:
    if decoded.image.info.get("poison") == "crash":
        if DEATH == "exit":
            os._exit(134)
        os.kill(os.getpid(), signal.SIGKILL)
    return _load(decoded)


decode.load = load  # type: ignore[assignment]


class Context:
    aws_request_id = "22222222-3333-4444-5555-666666666666"
    function_name = "image-optimizer-child"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:image-optimizer-child"
    memory_limit_in_mb = 1024

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def main() -> int:
    if sys.argv[1] == "dead_letters":
        from image_optimizer.dead_letters import lambda_handler
    else:
        from image_optimizer.handler import lambda_handler
    event = json.loads(Path(sys.argv[2]).read_text())
    try:
        result = lambda_handler(event, Context())
    except Exception as error:
        print("RESULT " + json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}))
        return 1
    print("RESULT " + json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
