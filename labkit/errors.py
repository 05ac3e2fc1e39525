"""AWS-style exceptions raised by labkit's simulated APIs.

Names and fields follow the Lambda API (see the facts sheet, section 7). Each
message names the parameter, the value given and what is allowed, so a learner
can fix a bad configuration without reading the source.
"""

import pickle


class LambdaError(Exception):
    """Base class: an error the Lambda API would return. ``status`` is its HTTP code.

    ``args`` holds the constructor's arguments, so ``type(e)(*e.args)`` (what simpy does when
    it re-raises a failed process's exception in the process waiting for it) and pickling
    give back the same exception with the same message; ``str(e)`` is the message."""

    status = 500
    message = ""

    def __str__(self):
        return self.message or super().__str__()

    @property
    def code(self):
        return type(self).__name__

    def __reduce__(self):
        try:
            pickle.dumps(self.args)
        except Exception:   # an argument that cannot be pickled: keep the message and the fields' reprs
            fields = {k: v if _picklable(v) else repr(v) for k, v in vars(self).items()}
            return _restore, (type(self), str(self), fields)
        return type(self), self.args


def _picklable(value):
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


def _restore(cls, message, fields):
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(fields)
    err.message = message
    return err


class InvalidParameterValueException(LambdaError):
    """A configuration value outside what AWS accepts (HTTP 400)."""

    status = 400

    def __init__(self, parameter, value, allowed, detail=""):
        self.parameter, self.value, self.allowed, self.detail = parameter, value, allowed, detail
        self.message = f"{parameter}={value!r} is not valid: allowed {allowed}"
        if detail:
            self.message += f". {detail}"
        super().__init__(parameter, value, allowed, detail)


class TooManyRequestsException(LambdaError):
    """A throttled invocation (HTTP 429). ``reason`` is one of AWS's Reason values."""

    status = 429

    def __init__(self, reason, message="Rate Exceeded."):
        self.reason = reason
        self.type = "User"
        self.message = f"{message} Reason: {reason}"
        super().__init__(reason, message)


class RequestTooLargeException(LambdaError):
    """A payload over the invocation type's limit (HTTP 413)."""

    status = 413

    def __init__(self, size, limit):
        self.size, self.limit = size, limit
        self.message = f"payload of {size} bytes exceeds the limit of {limit} bytes"
        super().__init__(size, limit)


class ResourceNotFoundException(LambdaError):
    status = 404


class SimulationError(RuntimeError):
    """A misuse of the simulator itself (not something AWS would return)."""
