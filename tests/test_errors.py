"""labkit's exceptions keep their message when simpy re-raises them in a waiting process
(``type(e)(*e.args)``) and when they are pickled (a kernel sends errors to other processes)."""

import pickle

import pytest
import simpy

import labkit as lk
from labkit.errors import (InvalidParameterValueException, RequestTooLargeException, SimulationError,
                           TooManyRequestsException)

ERRORS = [
    InvalidParameterValueException("MemorySize", 64, "an integer from 128 to 10,240"),
    InvalidParameterValueException("workload", lambda: 1, "an lk.workload", "a detail"),   # unpicklable value
    TooManyRequestsException("ReservedFunctionConcurrentInvocationLimitExceeded"),
    RequestTooLargeException(2_000_000, 1_048_576),
    SimulationError("a misuse of the simulator"),
]


@pytest.mark.parametrize("err", ERRORS, ids=lambda e: type(e).__name__)
def test_rebuilt_and_pickled_errors_keep_their_message(err):
    rebuilt = type(err)(*err.args)
    unpickled = pickle.loads(pickle.dumps(err))
    assert type(rebuilt) is type(unpickled) is type(err)
    assert str(rebuilt) == str(unpickled) == str(err)


@pytest.mark.parametrize("err", ERRORS, ids=lambda e: type(e).__name__)
def test_an_error_re_raised_through_simpy_is_the_same_error(err):
    env = simpy.Environment()

    def failing():
        raise err
        yield

    def waiting():
        yield env.process(failing())

    env.process(waiting())
    with pytest.raises(type(err)) as caught:
        env.run()
    assert str(caught.value) == str(err)


def test_a_fifo_queue_without_a_group_id_says_so():
    lab = lk.Lab(seed=1)
    with pytest.raises(InvalidParameterValueException, match="MessageGroupId=None is not valid"):
        lab.send(lab.sqs_queue("orders.fifo"), lk.workload.burst(3))


def test_an_async_payload_over_1_mb_is_request_too_large():
    lab = lk.Lab(seed=1)
    fn = lab.function(source="def handler(event, context):\n    return 1\n")
    with pytest.raises(RequestTooLargeException, match="exceeds the limit of 1048576 bytes"):
        lab.invoke_async(fn, lk.workload.burst(1, payload={"x": "a" * 2_000_000}))
