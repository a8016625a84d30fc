"""Answer chosen AWS requests with an error, at the HTTP layer, through botocore's event hooks.

Everything above the wire (retry mode, error parsing, the app's handling) runs for real.
"""

from collections.abc import Callable

from botocore.awsrequest import AWSPreparedRequest, AWSResponse


class _Body:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_):
        yield self._body


def error_response(request: AWSPreparedRequest, status: int, code: str, xml_root: str = "ErrorResponse") -> AWSResponse:
    inner = f"<Error><Type>Sender</Type><Code>{code}</Code><Message>injected</Message></Error>"
    body = f"<{xml_root}>{inner}</{xml_root}>" if xml_root else inner
    return AWSResponse(request.url, status, {"Content-Type": "text/xml"}, _Body(body.encode()))


def failing(status: int, code: str, times: int = 10**9,
            when: Callable[[AWSPreparedRequest], bool] = lambda request: True, xml_root: str = "ErrorResponse"):
    """A before-send hook answering the first `times` matching requests with `code`.

    `hook.answered` counts the requests it answered, i.e. the attempts botocore made.
    """
    def hook(request, **_):
        if hook.answered >= times or not when(request):
            return None
        hook.answered += 1
        return error_response(request, status, code, xml_root)

    hook.answered = 0
    return hook
