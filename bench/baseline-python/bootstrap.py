"""A minimal Lambda runtime for the Python baseline: import the handler (Lambda's init
phase), then ask the runtime API for events and answer them, for ever.

It stands in for the managed Python runtime's own client (awslambdaric) and does less
than it: no X-Ray, no extensions, no telemetry pipe. Whatever it leaves out makes the
baseline look faster, never slower. Like the managed runtime, it gives the root logger a
handler writing to stdout in Lambda's format (crhelper raises the root level to DEBUG, so
what it logs reaches the log, as in CloudWatch). Standard library only.

Environment: AWS_LAMBDA_RUNTIME_API (host:port) and _HANDLER (module.function), as Lambda
sets them; the handler's directory and its packages must be on PYTHONPATH.
"""

import http.client
import importlib
import json
import logging
import os
import sys
import time
import traceback

PREFIX = "/2018-06-01/runtime"
LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s"


class RequestId(logging.Filter):
    """Stamps every record with the current invocation's request id, as Lambda does."""

    current = ""

    def filter(self, record):
        record.aws_request_id = RequestId.current
        return True


def install_log_handler():
    handler = logging.StreamHandler(sys.stdout)
    logging.Formatter.converter = time.gmtime
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(RequestId())
    logging.getLogger().addHandler(handler)


class Context:
    """The parts of Lambda's context object that handlers and crhelper use."""

    def __init__(self, headers):
        self.aws_request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self._deadline_ms = int(headers["Lambda-Runtime-Deadline-Ms"])

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def main():
    api = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])

    def post(path, body):
        api.request("POST", PREFIX + path, body=body, headers={"Content-Type": "application/json"})
        api.getresponse().read()

    install_log_handler()
    module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception as error:
        post("/init/error", json.dumps({"errorMessage": str(error), "errorType": type(error).__name__}))
        raise
    while True:
        api.request("GET", PREFIX + "/invocation/next")
        reply = api.getresponse()
        event = json.loads(reply.read())
        context = Context(reply.headers)
        RequestId.current = context.aws_request_id
        try:
            result = handler(event, context)
            post(f"/invocation/{context.aws_request_id}/response", json.dumps(result))
        except Exception as error:
            post(f"/invocation/{context.aws_request_id}/error", json.dumps({
                "errorMessage": str(error), "errorType": type(error).__name__,
                "stackTrace": traceback.format_exc().splitlines(),
            }))


if __name__ == "__main__":
    main()
