"""Deploys infra/template.yaml to moto's CloudFormation as `sam deploy` would, and describes
what was deployed, for the stack test (tests/src/stack.rs).

Input (stdin, JSON): endpoint, region, stack_name, template (path), parameters (name ->
value), secrets (Secrets Manager name -> string), ssm (Parameter Store name -> string). The
credentials in the environment are the administrator's (moto_iam.py bootstrap).

Steps, each the one a deployment takes, except where moto cannot:
1. `sam package`: each function's CodeUri becomes an S3 object (a placeholder zip: the test
   runs the native binary on this machine, moto never runs code).
2. The SAM transform, with the translator pinned in .venv (aws-sam-cli's).
3. The secrets and the parameter the template's dynamic references name, then CreateStack.
4. What CloudFormation would have resolved and moto does not: `{{resolve:secretsmanager:...}}`
   and `{{resolve:ssm:...}}` in each function's environment, read back from Secrets Manager and
   SSM. API Gateway v2 resources are skipped by moto, so the HTTP APIs' routes are read from
   the transformed template's OpenAPI bodies, and a `${Api}` left in a value is reported.
5. The Lambda service's part: each function's role is assumed (session name = function name).
   moto cannot act as the lambda.amazonaws.com principal, so the administrator is added to each
   role's trust policy first (beside the service, which stays).

Output (stdout, JSON): outputs, resources, functions (name, arn, role, environment, memory,
timeout, log settings, credentials), event_source_mappings, schedules, http_apis, dashboards
(their bodies as CloudWatch holds them).
"""

import io
import json
import os
import re
import sys
import zipfile

import boto3
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform


class NoManagedPolicies:
    """The template names no AWS managed policies (roles are written out); nothing to load."""

    def load(self):
        return {}


def client(spec, service):
    return boto3.client(service, endpoint_url=spec["endpoint"], region_name=spec["region"])


def resolve_dynamic(value, sm, ssm):
    """CloudFormation's dynamic references, as documented: secretsmanager:id[:SecretString[:key
    [:stage[:version]]]] and ssm:name[:version]."""

    def one(match):
        service, ref = match.group(1), match.group(2)
        if service == "ssm":
            name, _, version = ref.partition(":")
            full = f"{name}:{version}" if version else name
            return ssm.get_parameter(Name=full)["Parameter"]["Value"]
        if service == "secretsmanager":
            parts = ref.split(":")
            secret_id, rest = parts[0], parts[1:]
            if rest and rest[0] != "SecretString":
                raise SystemExit(f"unsupported secret reference {match.group(0)}")
            key = rest[1] if len(rest) > 1 and rest[1] else None
            kwargs = {"SecretId": secret_id}
            if len(rest) > 2 and rest[2]:
                kwargs["VersionStage"] = rest[2]
            if len(rest) > 3 and rest[3]:
                kwargs["VersionId"] = rest[3]
            text = sm.get_secret_value(**kwargs)["SecretString"]
            return str(json.loads(text)[key]) if key else text
        raise SystemExit(f"unsupported dynamic reference {match.group(0)}")

    return re.sub(r"\{\{resolve:(ssm|ssm-secure|secretsmanager):([^}]+)\}\}", one, value)


def routes(template):
    """Every route of every HTTP API in the transformed template (moto does not deploy them)."""
    apis = []
    for logical, resource in template["Resources"].items():
        if resource["Type"] != "AWS::ApiGatewayV2::Api":
            continue
        body = resource["Properties"].get("Body", {})
        authorizers = body.get("components", {}).get("securitySchemes", {})
        out = []
        for path, methods in body.get("paths", {}).items():
            for method, op in methods.items():
                integration = op.get("x-amazon-apigateway-integration", {})
                uri = json.dumps(integration.get("uri", ""))
                function = re.search(r"\$\{(\w+)\.Arn\}", uri)
                security = [name for s in op.get("security", []) for name in s]
                if not security:
                    auth = "NONE"
                elif security[0] in ("NONE", "AWS_IAM"):
                    auth = security[0]
                else:
                    kind = authorizers.get(security[0], {}).get("x-amazon-apigateway-authorizer", {}).get("type")
                    auth = (kind or "unknown").upper()
                out.append(
                    {
                        "method": method.upper(),
                        "path": path,
                        "function": function.group(1) if function else None,
                        "payload_format_version": integration.get("payloadFormatVersion", "1.0"),
                        "auth": auth,
                    }
                )
        apis.append({"logical_id": logical, "routes": out})
    return apis


def main():
    spec = json.load(sys.stdin)
    s3, cfn, lam = client(spec, "s3"), client(spec, "cloudformation"), client(spec, "lambda")
    sm, ssm, iam, sts = client(spec, "secretsmanager"), client(spec, "ssm"), client(spec, "iam"), client(spec, "sts")
    events = client(spec, "events")
    cloudwatch = client(spec, "cloudwatch")
    stack = spec["stack_name"]

    template = yaml_parse(open(spec["template"], encoding="utf-8").read())
    code_bucket = f"{stack.lower()}-code"
    s3.create_bucket(Bucket=code_bucket)
    placeholder = io.BytesIO()
    with zipfile.ZipFile(placeholder, "w") as z:
        z.writestr("bootstrap", "the stack test runs the native binary instead")
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            key = f"{logical}.zip"
            s3.put_object(Bucket=code_bucket, Key=key, Body=placeholder.getvalue())
            resource["Properties"]["CodeUri"] = f"s3://{code_bucket}/{key}"
    os.environ.setdefault("AWS_DEFAULT_REGION", spec["region"])
    expanded = transform(template, {}, NoManagedPolicies())

    for name, value in spec.get("secrets", {}).items():
        sm.create_secret(Name=name, SecretString=value)
    for name, value in spec.get("ssm", {}).items():
        ssm.put_parameter(Name=name, Value=value, Type="String")

    cfn.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(expanded),
        Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in spec["parameters"].items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    if described["StackStatus"] != "CREATE_COMPLETE":
        raise SystemExit(f"stack {stack}: {described['StackStatus']} {described.get('StackStatusReason')}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    resources = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        if r["LogicalResourceId"]
    }

    def ref(value):
        """A `Ref` to a parameter (the given value, else its default) or to a resource."""
        if not (isinstance(value, dict) and "Ref" in value):
            return value
        name = value["Ref"]
        if name in spec["parameters"]:
            return str(spec["parameters"][name])
        if name in expanded.get("Parameters", {}):
            return str(expanded["Parameters"][name].get("Default", ""))
        return resources.get(name, "")

    admin_arn = sts.get_caller_identity()["Arn"]
    # ListFunctions rather than GetFunctionConfiguration: moto's signature check fails on the
    # latter's path (the function name in it).
    configs = {f["FunctionName"]: f for page in lam.get_paginator("list_functions").paginate() for f in page["Functions"]}
    functions = {}
    for logical, resource in expanded["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        config = configs[resources[logical]]
        env = {
            k: resolve_dynamic(str(v), sm, ssm)
            for k, v in config.get("Environment", {}).get("Variables", {}).items()
        }
        unresolved = sorted({m for v in env.values() for m in re.findall(r"\$\{([\w.:]+)\}", v)})
        role_name = config["Role"].split("/")[-1]
        trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
        if isinstance(trust, str):
            trust = json.loads(trust)
        for statement in trust["Statement"]:
            principal = statement.setdefault("Principal", {})
            if "lambda.amazonaws.com" in json.dumps(principal.get("Service", [])):
                principal["AWS"] = admin_arn
        iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(trust))
        credentials = sts.assume_role(
            RoleArn=config["Role"], RoleSessionName=config["FunctionName"][:64], DurationSeconds=3600
        )["Credentials"]
        # moto keeps no LoggingConfig: read it from the template, its Refs resolved.
        logging = {k: ref(v) for k, v in resource["Properties"].get("LoggingConfig", {}).items()}
        functions[logical] = {
            "name": config["FunctionName"],
            "arn": config["FunctionArn"],
            "role_arn": config["Role"],
            "role": next((k for k, v in resources.items() if v == role_name), role_name),
            "memory_size": config.get("MemorySize", 128),
            "timeout": config.get("Timeout", 3),
            "runtime": config.get("Runtime"),
            "handler": config.get("Handler"),
            "log_format": logging.get("LogFormat", "Text"),
            "log_level": logging.get("ApplicationLogLevel"),
            "log_group": logging.get("LogGroup"),
            "environment": env,
            "unresolved": unresolved,
            "credentials": {
                "access_key_id": credentials["AccessKeyId"],
                "secret_access_key": credentials["SecretAccessKey"],
                "session_token": credentials["SessionToken"],
            },
        }

    by_arn = {f["arn"]: logical for logical, f in functions.items()}
    mappings = []
    for m in lam.list_event_source_mappings()["EventSourceMappings"]:
        if m["FunctionArn"] not in by_arn:
            continue
        mappings.append(
            {
                "function": by_arn[m["FunctionArn"]],
                "event_source_arn": m["EventSourceArn"],
                "batch_size": m.get("BatchSize", 10),
                "function_response_types": m.get("FunctionResponseTypes", []),
                "maximum_concurrency": m.get("ScalingConfig", {}).get("MaximumConcurrency"),
            }
        )

    schedules = []
    for logical, resource in expanded["Resources"].items():
        if resource["Type"] != "AWS::Events::Rule":
            continue
        rule = events.describe_rule(Name=resources[logical])
        for target in events.list_targets_by_rule(Rule=rule["Name"])["Targets"]:
            schedules.append(
                {
                    "rule": logical,
                    "name": rule["Name"],
                    "arn": rule["Arn"],
                    "schedule_expression": rule.get("ScheduleExpression"),
                    "function": by_arn.get(target["Arn"]),
                    "input": target.get("Input"),
                }
            )

    # The dashboards as CloudWatch holds them (their bodies with every !Sub resolved). Alarms
    # are not created by moto's CloudFormation: the test reads them from the template.
    dashboards = {}
    for logical, resource in expanded["Resources"].items():
        if resource["Type"] == "AWS::CloudWatch::Dashboard":
            body = cloudwatch.get_dashboard(DashboardName=resources[logical])["DashboardBody"]
            dashboards[logical] = json.loads(body)

    # What each function's role allows, as IAM holds it (the test compares it with the calls).
    policies = {}
    for f in functions.values():
        role_name = f["role_arn"].split("/")[-1]
        statements = []
        for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            if isinstance(document, str):
                document = json.loads(document)
            for st in document["Statement"]:
                as_list = lambda v: v if isinstance(v, list) else [v]
                statements.append(
                    {"sid": st.get("Sid"), "effect": st["Effect"], "actions": as_list(st["Action"]), "resources": as_list(st["Resource"])}
                )
        policies[f["role"]] = statements

    json.dump(
        {
            "stack_name": stack,
            "policies": policies,
            "region": spec["region"],
            "outputs": outputs,
            "resources": resources,
            "functions": functions,
            "event_source_mappings": mappings,
            "schedules": schedules,
            "http_apis": routes(expanded),
            "dashboards": dashboards,
        },
        sys.stdout,
        indent=1,
    )


if __name__ == "__main__":
    main()
