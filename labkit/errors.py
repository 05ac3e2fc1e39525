"""AWS-style exceptions raised by labkit's simulated APIs.

Names and fields follow the Lambda API (see the facts sheet, section 7). Each
message names the parameter, the value given and what is allowed, so a learner
can fix a bad configuration without reading the source.
"""


class LambdaError(Exception):
    """Base class: an error the Lambda API would return. ``status`` is its HTTP code."""

    status = 500

    @property
    def code(self):
        return type(self).__name__


class InvalidParameterValueException(LambdaError):
    """A configuration value outside what AWS accepts (HTTP 400)."""

    status = 400

    def __init__(self, parameter, value, allowed, detail=""):
        self.parameter, self.value, self.allowed = parameter, value, allowed
        msg = f"{parameter}={value!r} is not valid: allowed {allowed}"
        if detail:
            msg += f". {detail}"
        super().__init__(msg)


class TooManyRequestsException(LambdaError):
    """A throttled invocation (HTTP 429). ``reason`` is one of AWS's Reason values."""

    status = 429

    def __init__(self, reason, message="Rate Exceeded."):
        self.reason = reason
        self.type = "User"
        super().__init__(f"{message} Reason: {reason}")


class RequestTooLargeException(LambdaError):
    """A payload over the invocation type's limit (HTTP 413)."""

    status = 413

    def __init__(self, size, limit):
        self.size, self.limit = size, limit
        super().__init__(f"payload of {size} bytes exceeds the limit of {limit} bytes")


class ResourceNotFoundException(LambdaError):
    status = 404


class SimulationError(RuntimeError):
    """A misuse of the simulator itself (not something AWS would return)."""
