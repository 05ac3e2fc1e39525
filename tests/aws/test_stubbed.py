"""What moto lacks, with botocore's Stubber: the IAM propagation race, provisioned concurrency (READY
wait, removed first), a small account's concurrency limit, and cleanup of a crashed run that had
provisioned concurrency. Each stub checks the exact calls, in order."""

import boto3
import pytest
from botocore.stub import ANY, Stubber

from labkit.aws import cost, resources

ACCT = "123456789012"
REGION = "us-east-1"
FN = "labkit-run1-fn"
ROLE = "labkit-run1-exec"
ROLE_ARN = f"arn:aws:iam::{ACCT}:role/labkit/{ROLE}"
FN_ARN = f"arn:aws:lambda:{REGION}:{ACCT}:function:{FN}"
GROUP = f"/aws/lambda/{FN}"
SOURCE = "def handler(event, context):\n    return 1\n"


class StubSession(resources.AwsSession):
    """An AwsSession whose clients are stubbed (no endpoint at all)."""

    def __init__(self):
        super().__init__(region=REGION)
        self.stubs = {}
        for service in ("lambda", "iam", "logs", "sts"):
            client = boto3.client(service, region_name=REGION, aws_access_key_id="testing",
                                  aws_secret_access_key="testing")
            self.stubs[service] = Stubber(client)
            self._clients[service] = client
        for s in self.stubs.values():
            s.activate()

    def client(self, service, **config):
        return self._clients[service]

    def done(self):
        for s in self.stubs.values():
            s.assert_no_pending_responses()


def _settings(limit, unreserved=None):
    return {"AccountLimit": {"ConcurrentExecutions": limit, "UnreservedConcurrentExecutions":
                             limit if unreserved is None else unreserved}}


def _stub_creation(s, role_errors=0, create_ok=True):
    lam, iam, logs = s.stubs["lambda"], s.stubs["iam"], s.stubs["logs"]
    lam.add_response("get_account_settings", _settings(1000))
    iam.add_response("create_role", {"Role": {"Path": "/labkit/", "RoleName": ROLE, "RoleId": "AROAEXAMPLE12345",
                                              "Arn": ROLE_ARN, "CreateDate": "2026-12-05T00:00:00Z"}},
                     {"RoleName": ROLE, "Path": "/labkit/", "AssumeRolePolicyDocument": ANY, "Description": ANY,
                      "MaxSessionDuration": 3600, "Tags": ANY})
    iam.add_response("attach_role_policy", {}, {"RoleName": ROLE, "PolicyArn": resources.BASIC_EXECUTION_POLICY_ARN})
    logs.add_response("create_log_group", {}, {"logGroupName": GROUP, "tags": ANY})
    logs.add_response("put_retention_policy", {}, {"logGroupName": GROUP, "retentionInDays": 1})
    for _ in range(role_errors):
        lam.add_client_error("create_function", "InvalidParameterValueException",
                             "The role defined for the function cannot be assumed by Lambda.", 400)
    if not create_ok:
        return
    lam.add_response("create_function", {"FunctionName": FN, "FunctionArn": FN_ARN, "State": "Pending"})
    lam.add_response("get_function_configuration", {"FunctionName": FN, "State": "Pending"})
    lam.add_response("get_function_configuration", {"FunctionName": FN, "State": "Active"})


def _stub_teardown(s, provisioned):
    lam, iam, logs = s.stubs["lambda"], s.stubs["iam"], s.stubs["logs"]
    if provisioned:
        lam.add_response("delete_provisioned_concurrency_config", {}, {"FunctionName": FN, "Qualifier": "live"})
        lam.add_client_error("get_provisioned_concurrency_config", "ProvisionedConcurrencyConfigNotFoundException",
                             "No Provisioned Concurrency Config found", 404)
    lam.add_response("delete_function", {}, {"FunctionName": FN})
    lam.add_client_error("get_function", "ResourceNotFoundException", "Function not found", 404)
    logs.add_response("delete_log_group", {}, {"logGroupName": GROUP})
    logs.add_response("describe_log_groups", {"logGroups": []}, {"logGroupNamePrefix": GROUP})
    iam.add_response("list_attached_role_policies", {"AttachedPolicies": [
        {"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": resources.BASIC_EXECUTION_POLICY_ARN}]})
    iam.add_response("detach_role_policy", {}, {"RoleName": ROLE, "PolicyArn": resources.BASIC_EXECUTION_POLICY_ARN})
    iam.add_response("list_role_policies", {"PolicyNames": []})
    iam.add_response("delete_role", {}, {"RoleName": ROLE})
    iam.add_client_error("get_role", "NoSuchEntity", "Role not found", 404)


def test_the_iam_propagation_error_is_retried_until_the_role_can_be_assumed():
    s = StubSession()
    _stub_creation(s, role_errors=2)
    waits = []
    dep = resources.Deployment(s, run_id="run1", sleep=waits.append, poll_s=0.0)
    fn = dep.function(source=SOURCE)
    assert fn.name == FN and waits[:2] == [1.0, 2.0]          # backed off twice, then created
    _stub_teardown(s, provisioned=False)
    assert dep.teardown().ok
    s.done()


def test_the_iam_propagation_error_gives_up_after_role_wait_s():
    s = StubSession()
    _stub_creation(s, role_errors=4, create_ok=False)          # refused every time
    dep = resources.Deployment(s, run_id="run1", sleep=lambda _: None, role_wait_s=5)
    with pytest.raises(Exception, match="cannot be assumed"):
        dep.function(source=SOURCE)
    # Four tries: after 1 + 2 + 4 s of waiting the fifth is not made. Teardown removes what exists.
    logs, iam = s.stubs["logs"], s.stubs["iam"]
    logs.add_response("delete_log_group", {}, {"logGroupName": GROUP})
    logs.add_response("describe_log_groups", {"logGroups": []}, {"logGroupNamePrefix": GROUP})
    iam.add_response("list_attached_role_policies", {"AttachedPolicies": []})
    iam.add_response("list_role_policies", {"PolicyNames": []})
    iam.add_response("delete_role", {}, {"RoleName": ROLE})
    iam.add_client_error("get_role", "NoSuchEntity", "Role not found", 404)
    assert [o.kind for o in dep.teardown().outcomes] == ["log-group", "role"]
    s.done()


def test_provisioned_concurrency_waits_for_ready_and_is_removed_first():
    s = StubSession()
    _stub_creation(s)
    lam = s.stubs["lambda"]
    lam.add_response("publish_version", {"Version": "1"}, {"FunctionName": FN})
    lam.add_response("create_alias", {"Name": "live"}, {"FunctionName": FN, "Name": "live", "FunctionVersion": "1"})
    lam.add_response("put_provisioned_concurrency_config", {"Status": "IN_PROGRESS"},
                     {"FunctionName": FN, "Qualifier": "live", "ProvisionedConcurrentExecutions": 2})
    lam.add_response("get_provisioned_concurrency_config", {"Status": "IN_PROGRESS"})
    lam.add_response("get_provisioned_concurrency_config", {"Status": "READY"})
    budget = cost.Budget(0.50)
    dep = resources.Deployment(s, budget=budget, run_id="run1", sleep=lambda _: None, poll_s=0.0)
    fn = dep.function(source=SOURCE, memory_mb=128, provisioned_concurrency=2)
    assert (fn.qualifier, fn.version, fn.provisioned_concurrency) == ("live", "1", 2)
    # The allocation charge starts now: five minutes of two 128 MB environments.
    assert budget.spent_usd == pytest.approx(cost.provisioned_cost(2, 128, 300))
    _stub_teardown(s, provisioned=True)
    report = dep.teardown()
    assert report.ok and report.outcomes[0].kind == "provisioned-concurrency"
    s.done()


def test_provisioned_concurrency_over_budget_is_refused_before_anything_exists():
    s = StubSession()
    s.stubs["lambda"].add_response("get_account_settings", _settings(1000))
    dep = resources.Deployment(s, budget=cost.Budget(0.01), run_id="run1", sleep=lambda _: None)
    with pytest.raises(cost.BudgetExceeded):
        dep.function(source=SOURCE, memory_mb=10240, provisioned_concurrency=100, provisioned_seconds=3600)
    assert dep.teardown().outcomes == []
    s.done()                                                  # no IAM, logs or Lambda resource was created


def test_a_small_account_is_explained_and_impossible_reserved_concurrency_refused():
    s = StubSession()
    s.stubs["lambda"].add_response("get_account_settings", _settings(10))
    acct = resources.check_account_concurrency(s, needed=25)
    assert acct.limit == 10 and "10 executions at once" in acct.explanation
    assert "Service Quotas" in acct.explanation and "throttled" in acct.explanation
    s.stubs["lambda"].add_response("get_account_settings", _settings(10))
    dep = resources.Deployment(s, run_id="run1", sleep=lambda _: None)
    with pytest.raises(ValueError, match="at most 0 can be reserved"):
        dep.function(source=SOURCE, reserved_concurrency=5)
    assert dep.teardown().outcomes == []
    s.done()


def test_cleanup_of_a_crashed_run_removes_provisioned_concurrency_first():
    s = StubSession()
    lam, iam, logs = s.stubs["lambda"], s.stubs["iam"], s.stubs["logs"]
    tags = {resources.LAB_TAG: resources.LAB_VALUE, resources.RUN_TAG: "run1",
            resources.EXPIRES_TAG: "2026-12-05T03:00:00Z"}
    functions = [{"FunctionName": FN, "FunctionArn": FN_ARN},
                 {"FunctionName": "someone-elses", "FunctionArn": FN_ARN + "x"},
                 {"FunctionName": "labkit-untagged", "FunctionArn": FN_ARN + "y"}]
    lam.add_response("list_functions", {"Functions": functions})
    lam.add_response("list_tags", {"Tags": tags}, {"Resource": FN_ARN})
    lam.add_response("list_tags", {"Tags": {}}, {"Resource": FN_ARN + "y"})   # prefix without our tag: kept
    logs.add_response("describe_log_groups", {"logGroups": [{"logGroupName": GROUP}]},
                      {"logGroupNamePrefix": "/aws/lambda/labkit-"})
    logs.add_response("list_tags_log_group", {"tags": tags}, {"logGroupName": GROUP})
    iam.add_response("list_roles", {"Roles": [{"Path": "/labkit/", "RoleName": ROLE, "RoleId": "AROAEXAMPLE12345",
                                               "Arn": ROLE_ARN, "CreateDate": "2026-12-05T00:00:00Z"}]},
                     {"PathPrefix": "/labkit/"})
    iam.add_response("list_role_tags", {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]},
                     {"RoleName": ROLE})
    lam.add_response("list_provisioned_concurrency_configs", {"ProvisionedConcurrencyConfigs": [
        {"FunctionArn": FN_ARN + ":live", "RequestedProvisionedConcurrentExecutions": 2}]}, {"FunctionName": FN})
    _stub_teardown(s, provisioned=True)
    found, report = resources.cleanup(s, sleep=lambda _: None)
    assert [x.kind for x in found] == ["function", "log-group", "role"]
    assert [o.kind for o in report.outcomes] == ["provisioned-concurrency", "function", "log-group", "role"]
    assert report.ok and ACCT not in str(report)
    s.done()
