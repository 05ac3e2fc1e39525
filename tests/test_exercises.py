"""The exercise kit: verdicts, placeholders, hints, solutions and behavioural checks."""

import importlib.util
import textwrap

import pytest

from labkit import exercises as ex
from labkit.errors import InvalidParameterValueException

# -- a value exercise: "how many increments were lost?" (expected: 89) ----------------------------

EXPECTED_LOST = 89


@ex.checker
def check_lost_count(answer):
    if isinstance(answer, bool) or not isinstance(answer, int):
        return ex.wrong(f"Give a whole number of increments, not {type(answer).__name__}.")
    if answer == EXPECTED_LOST:
        return ex.correct("That is how many increments the race swallowed.")
    if answer == 100 - EXPECTED_LOST:
        return ex.wrong("That is the final counter value; the question asks how many increments were lost.")
    return ex.wrong("Not that many: compare the number of calls with the counter's final value.")


lost_exercise = ex.Exercise("lost-count", check_lost_count,
                            hints=["Count the calls.", "Calls minus the final counter value."],
                            solution="answer = 100 - 11")


def test_not_attempted_differs_from_wrong_and_correct():
    for placeholder in (None, ...):
        r = check_lost_count(placeholder)
        assert r.status == ex.NOT_ATTEMPTED and not r.ok
    assert check_lost_count().status == ex.NOT_ATTEMPTED
    assert check_lost_count(5).status == ex.WRONG
    assert check_lost_count(EXPECTED_LOST).status == ex.CORRECT and check_lost_count(EXPECTED_LOST).ok


def test_wrong_answers_get_their_own_messages():
    messages = {check_lost_count(a).message for a in (11, 5, "89")}
    assert len(messages) == 3
    assert "final counter value" in check_lost_count(11).message
    assert "whole number" in check_lost_count("89").message


def test_check_prints_a_verdict_but_never_the_expected_answer(capsys):
    for answer in (None, 5, 11, "x"):
        lost_exercise.check(answer)
        out = capsys.readouterr().out
        assert str(EXPECTED_LOST) not in out
    lost_exercise.check(None)
    assert capsys.readouterr().out.startswith("… Not attempted yet.")
    lost_exercise.check(5)
    assert capsys.readouterr().out.startswith("✘ Not yet.")
    lost_exercise.check(EXPECTED_LOST)
    assert capsys.readouterr().out.startswith("✔ Correct.")
    assert lost_exercise.last_result.ok


def test_hints_are_progressive(capsys):
    lost_exercise.hint()
    first = capsys.readouterr().out
    lost_exercise.hint(2)
    second = capsys.readouterr().out
    assert first.startswith("Hint 1 of 2: Count the calls.") and "hint(2) says more" in first
    assert second.startswith("Hint 2 of 2: Calls minus") and "solution()" in second
    lost_exercise.hint(9)                                  # past the last: the last one
    assert capsys.readouterr().out == second
    for bad in (0, -1, "2", 1.5, True):
        with pytest.raises(InvalidParameterValueException):
            lost_exercise.hint(bad)
    lost_exercise.solution()
    assert capsys.readouterr().out == "answer = 100 - 11\n"


def test_an_exception_while_checking_is_wrong_not_a_crash():
    @ex.checker
    def fragile(answer):
        return ex.correct() if answer["x"] == 1 else ex.wrong("no")
    r = fragile(3)
    assert r.status == ex.WRONG and "TypeError" in r.message


def test_result_rejects_unknown_status():
    with pytest.raises(InvalidParameterValueException):
        ex.Result("maybe", "?")


# -- placeholders -------------------------------------------------------------------------------------

STUBS = [
    "def handler(event, context):\n    ...\n",
    "def handler(event, context):\n    pass\n",
    'def handler(event, context):\n    """Your code here."""\n    raise NotImplementedError\n',
    "import boto3\n\ndef handler(event, context):\n    raise NotImplementedError('write me')\n",
    "   ",
]


@pytest.mark.parametrize("stub", STUBS)
def test_stub_handlers_are_not_attempted(stub):
    assert ex.is_placeholder(stub)
    assert ex.check_deposit(stub).status == ex.NOT_ATTEMPTED


def test_unchanged_starter_code_is_not_attempted():
    starter = "def handler(event, context):\n    return 1  # fix me\n"
    assert ex.is_placeholder("def handler(event, context):\n    return 1\n", placeholder=starter)
    assert not ex.is_placeholder("def handler(event, context):\n    return 2\n", placeholder=starter)
    assert not ex.is_placeholder(0) and not ex.is_placeholder("def handler(e, c):\n    return 1\n")


# -- behavioural checks: the deposit exercise ------------------------------------------------------

READ_MODIFY_WRITE = '''
import boto3
table = boto3.resource("dynamodb").Table("accounts")

def handler(event, context):
    item = table.get_item(Key={"id": event["account"]})["Item"]
    balance = item["balance"] + event["amount"]
    table.put_item(Item={"id": event["account"], "balance": balance})
    return int(balance)
'''

CONDITIONAL_NO_RETRY = '''
import boto3
table = boto3.resource("dynamodb").Table("accounts")

def handler(event, context):
    item = table.get_item(Key={"id": event["account"]})["Item"]
    balance = item["balance"] + event["amount"]
    table.put_item(Item={"id": event["account"], "balance": balance},
                   ConditionExpression="balance = :seen", ExpressionAttributeValues={":seen": item["balance"]})
    return int(balance)
'''

WRONG_RETURN = '''
import boto3
table = boto3.resource("dynamodb").Table("accounts")

def handler(event, context):
    table.update_item(Key={"id": event["account"]}, UpdateExpression="ADD balance :a",
                      ExpressionAttributeValues={":a": event["amount"]})
    return "ok"
'''


def test_reference_solution_passes():
    r = ex.check_deposit(ex.DEPOSIT_SOLUTION)
    assert r.status == ex.CORRECT, r.text()


def test_lost_update_is_reported_with_the_smallest_interleaving():
    r = ex.check_deposit(READ_MODIFY_WRITE)
    assert r.status == ex.WRONG
    assert r.message.startswith("2 deposits of 1 were made but the balance only went up by 1: 1 update was lost.")
    assert "Smallest failing scenario: 2 calls at the same time (seed 1)." in r.details
    lines = r.details.splitlines()
    reads = [ln for ln in lines if "GetItem accounts" in ln]
    writes = [ln for ln in lines if "PutItem accounts" in ln]
    assert [ln.split()[2] for ln in reads] == ["#1", "#2"] and [ln.split()[2] for ln in writes] == ["#1", "#2"]
    assert all('"balance": 0' in ln for ln in reads) and all('"balance": 1' in ln for ln in writes)
    assert lines.index(reads[1]) < lines.index(writes[0])   # both read before either wrote


def test_conditional_write_without_retry_gets_its_own_message():
    r = ex.check_deposit(CONDITIONAL_NO_RETRY)
    assert r.status == ex.WRONG
    assert r.message.startswith("Call #2 was refused with ConditionalCheckFailedException")
    assert "refused: ConditionalCheckFailedException" in r.details
    assert r.message != ex.check_deposit(READ_MODIFY_WRITE).message


def test_right_balance_wrong_return_value():
    r = ex.check_deposit(WRONG_RETURN)
    assert r.status == ex.WRONG and "each call should return the balance" in r.message
    assert "a single call" in r.details


def test_a_handler_function_object_is_checked_too(tmp_path):
    # A function's whole module (here a file) is the function's code; importing it here runs
    # no AWS call, because the table is looked up inside the handler.
    path = tmp_path / "deposit_handler.py"
    path.write_text(textwrap.dedent('''
        import boto3

        def handler(event, context):
            table = boto3.resource("dynamodb", region_name="us-east-1").Table("accounts")
            r = table.update_item(Key={"id": event["account"]}, UpdateExpression="ADD balance :a",
                                  ExpressionAttributeValues={":a": event["amount"]}, ReturnValues="UPDATED_NEW")
            return int(r["Attributes"]["balance"])
    '''))
    spec = importlib.util.spec_from_file_location("deposit_handler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert ex.check_deposit(module.handler).status == ex.CORRECT


# -- behavioural checks: environment reuse -----------------------------------------------------------

LEAKY = '''
profile = {}

def handler(event, context):
    if "user" in event:
        profile["user"] = event["user"]
    return {"greeting": "hello " + profile.get("user", "anonymous")}
'''


def _event(i):
    return {"user": f"user-{i}"} if i % 2 == 0 else {}


def _verify_no_leak(trial):
    for i, response in enumerate(trial.responses):
        if "user" not in trial.events[i] and response["greeting"] != "hello anonymous":
            return (f"Call #{i + 1} was anonymous but was greeted as {response['greeting'][6:]}: "
                    "the warm environment kept the previous caller's data.", (i, i + 1))
    return None


def test_smallest_failure_finds_the_warm_reuse_leak():
    failure = ex.smallest_failure(LEAKY, _verify_no_leak, ex.scenarios(), event=_event)
    assert failure.scenario == ex.Scenario(callers=1, calls_each=2, seed=1)
    assert failure.message.startswith("Call #2 was anonymous but was greeted as user-0")
    report = failure.report()
    assert "2 calls one after another (later calls reuse the warm environment)" in report
    assert "#2   starts in env-0001 (warm environment)" in report
    fixed = LEAKY.replace("profile = {}\n", "").replace("    if", "    profile = {}\n    if")
    assert ex.smallest_failure(fixed, _verify_no_leak, ex.scenarios(), event=_event) is None


def test_scenarios_go_from_smallest_up():
    order = [(s.callers, s.calls_each) for s in ex.scenarios(max_callers=3, max_calls_each=2)]
    assert order == [(1, 1), (1, 2), (2, 1), (3, 1), (2, 2), (3, 2)]
    assert ex.Scenario(2, 3, gap_s=5).describe() == "2 callers at the same time, 3 calls each, 5 s apart"
    with pytest.raises(InvalidParameterValueException):
        ex.Scenario(callers=0)
