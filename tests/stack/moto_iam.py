"""moto's server with IAM enforced as AWS enforces it for the calls the connector makes.

Started by ./scripts/test as the second moto (MOTO_IAM_ENDPOINT) with
INITIAL_NO_AUTH_ACTION_COUNT set, so every request after the bootstrap is signed-checked and
authorised against the caller's policies. Plain moto (5.2) is looser or broken in nine places
the stack test depends on, each fixed here and nowhere else:

1. DynamoDB is authorised against Resource "*", so a grant on a table ARN never matches and
   every table-scoped role is denied everything. Here each request is authorised on the
   table's ARN (`table/<name>`, `table/<name>/index/<index>` for an index), and a transaction
   item by item as IAM does: Put -> dynamodb:PutItem, Update -> UpdateItem, Delete ->
   DeleteItem, ConditionCheck -> ConditionCheckItem, Get -> GetItem (AWS: "Using IAM with
   DynamoDB transactions"). A denial answers DynamoDB's own AccessDeniedException (JSON).
2. S3 CopyObject is authorised only on the destination. AWS also needs s3:GetObject on the
   source (s3:GetObjectVersion when the source names a version).
3. A role created by CloudFormation keeps its inline policies as dicts, which the policy
   evaluator cannot read (KeyError, answered 500): they are stored as JSON text, as the IAM
   API stores them.
4. SQS batch calls are authorised as actions IAM does not have (sqs:DeleteMessageBatch...);
   here as their single action, as SQS does.
5. A bodiless GET/HEAD/DELETE (the Lambda API's reads) is signature-checked over the
   parsed parameters instead of the empty body, so every such request is refused as
   SignatureDoesNotMatch. Here the empty body is hashed, as SigV4 says.
6. moto delivers to an SQS event source mapping itself, inside every SendMessage: it receives
   the queue's messages, cannot invoke the function (that needs Docker) and makes them visible
   again, so each send adds a receive to every waiting message and the redrive policy moves
   them to the DLQ. Here the queue never does that; the test plays the mapping, polling as
   Lambda does (tests/src/sources.rs).
7. CloudFormation's AWS::S3::Bucket ignores VersioningConfiguration, so the staging bucket is
   unversioned and the connector takes its unversioned code paths. Here it is applied.
8. (tests/stack/moto_atomic.py, imported here) DynamoDB's conditional writes are not atomic
   under concurrent requests; they are serialised as AWS makes them.
9. Every decision on an assumed role's request is appended to MOTO_IAM_LOG (JSON lines:
   principal, action, resource, allowed), so the stack test can compare what each function
   called with what its role grants.

`python moto_iam.py bootstrap <endpoint>` creates the administrator the tests use for set-up
and inspection (the only calls made before enforcement starts: INITIAL_NO_AUTH_ACTION_COUNT=3)
and prints its access key id and secret.
"""

import json
import os
import sys
import threading
from urllib.parse import parse_qs, unquote, urlparse

import moto_atomic  # noqa: F401  (DynamoDB writes atomic, as AWS makes them)
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import AccessDeniedError, JsonRESTError
from moto.dynamodb.responses import DynamoHandler
from moto.iam.access_control import IAMRequest, IAMRequestBase, S3IAMRequest
from moto.iam.models import Role
from moto.s3.models import FakeBucket
from moto.s3.responses import S3Response
from moto.sqs.models import Queue
from moto.utilities.utils import get_partition

_log_lock = threading.Lock()


def _log(principal, action, resource, allowed):
    path = os.environ.get("MOTO_IAM_LOG")
    if not path or ":assumed-role/" not in principal:
        return
    line = json.dumps({"principal": principal, "action": action, "resource": resource, "allowed": allowed})
    with _log_lock, open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


_original_check = IAMRequestBase.check_action_permitted


def _denied(error):
    return isinstance(error, AccessDeniedError) or "AccessDenied" in type(error).__name__


# SQS authorises a batch as its single action (SQS API reference: "DeleteMessageBatch ...
# requires sqs:DeleteMessage"); moto asks for an action named after the batch call.
_SQS_BATCH_ACTIONS = {
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


def _logged_check(self, resource):
    self._action = _SQS_BATCH_ACTIONS.get(self._action, self._action)
    principal = getattr(self._access_key, "arn", "?")
    try:
        _original_check(self, resource)
    except Exception as e:
        _log(principal, self._action, resource, False if _denied(e) else f"error: {e!r}")
        raise
    _log(principal, self._action, resource, True)


IAMRequestBase.check_action_permitted = _logged_check

_original_aws_request = IAMRequestBase._create_aws_request


def _aws_request(self):
    request = _original_aws_request(self)
    if not self._body and self._method in ("GET", "HEAD", "DELETE"):
        request.data = b""
    return request


IAMRequestBase._create_aws_request = _aws_request

_original_put_policy = Role.put_policy


def _put_policy(self, policy_name, policy_json):
    _original_put_policy(self, policy_name, policy_json if isinstance(policy_json, str) else json.dumps(policy_json))


Role.put_policy = _put_policy


class AccessDeniedException(JsonRESTError):
    code = 400

    def __init__(self, message):
        super().__init__("com.amazonaws.dynamodb.v20120810#AccessDeniedException", message)


def _enforcing():
    if ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return True
    ActionAuthenticatorMixin.request_count += 1
    return False


def _request(handler, cls, action):
    parsed = urlparse(handler.uri)
    path = handler.raw_path + ("?" + parsed.query if parsed.query else "")
    return cls(
        account_id=handler.current_account,
        method=handler.method,
        path=path,
        data=handler.data,
        body=handler.raw_body,
        headers=handler.headers,
        action=action,
    )


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _dynamodb_checks(handler):
    """(IAM action without prefix, resource ARN) pairs this request needs, as IAM evaluates it."""
    body = handler.body if isinstance(handler.body, dict) else {}
    action = handler._get_action()
    table_arn = f"arn:{get_partition(handler.region)}:dynamodb:{handler.region}:{handler.current_account}:table/"
    if action in ("TransactWriteItems", "TransactGetItems"):
        checks = []
        for item in body.get("TransactItems", []):
            for kind, request in item.items():
                checks.append((_TRANSACT_ACTIONS[kind], table_arn + request["TableName"]))
        return checks
    if action in ("BatchWriteItem", "BatchGetItem"):
        return [(action, table_arn + name) for name in body.get("RequestItems", {})]
    name = body.get("TableName")
    if not name:
        return [(action, "*")]
    resource = table_arn + name
    if body.get("IndexName") and action in ("Query", "Scan"):
        resource += "/index/" + body["IndexName"]
    return [(action, resource)]


def _dynamodb_authorize(self, resource="*"):
    if not _enforcing():
        return
    checked_signature = False
    for action, arn in _dynamodb_checks(self):
        request = _request(self, IAMRequest, action)
        if not checked_signature:
            request.check_signature()
            checked_signature = True
        try:
            request.check_action_permitted(arn)
        except AccessDeniedError:
            raise AccessDeniedException(
                f"User: {request._access_key.arn} is not authorized to perform: dynamodb:{action} "
                f"on resource: {arn} because no identity-based policy allows the dynamodb:{action} action"
            ) from None


DynamoHandler._authenticate_and_authorize_normal_action = _dynamodb_authorize

_original_s3_authorize = S3Response._authenticate_and_authorize_s3_action


def _s3_authorize(self, bucket_name=None, key_name=None):
    enforcing = ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT
    _original_s3_authorize(self, bucket_name=bucket_name, key_name=key_name)
    source = self.headers.get("x-amz-copy-source")
    if not enforcing or not source or self.method != "PUT":
        return
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    parsed = urlparse(source)
    src_bucket, src_key = unquote(parsed.path).lstrip("/").split("/", 1)
    action = "GetObjectVersion" if parse_qs(parsed.query).get("versionId") else "GetObject"
    _request(self, S3IAMRequest, action).check_action_permitted(
        f"arn:{get_partition(self.region)}:s3:::{src_bucket}/{src_key}"
    )


S3Response._authenticate_and_authorize_s3_action = _s3_authorize


_original_add_message = Queue.add_message


def _add_message(self, message):
    mappings, self.lambda_event_source_mappings = self.lambda_event_source_mappings, {}
    try:
        _original_add_message(self, message)
    finally:
        self.lambda_event_source_mappings = mappings


Queue.add_message = _add_message


_original_bucket_from_cfn = FakeBucket.create_from_cloudformation_json.__func__


def _bucket_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
    bucket = _original_bucket_from_cfn(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
    status = cloudformation_json.get("Properties", {}).get("VersioningConfiguration", {}).get("Status")
    if status:
        from moto.s3.models import s3_backends

        s3_backends[account_id][get_partition(region_name)].put_bucket_versioning(bucket.name, status)
    return bucket


FakeBucket.create_from_cloudformation_json = classmethod(_bucket_from_cfn)


def bootstrap(endpoint):
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName="stack-test-admin")
    iam.put_user_policy(
        UserName="stack-test-admin",
        PolicyName="everything",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="stack-test-admin")["AccessKey"]
    print(key["AccessKeyId"], key["SecretAccessKey"])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "bootstrap":
        bootstrap(sys.argv[2])
    else:
        from moto.server import main

        main(sys.argv[1:])
