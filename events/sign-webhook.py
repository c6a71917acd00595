#!/usr/bin/env python3
"""Re-sign the webhook sample events (API Gateway HTTP API v2 payloads) for `cargo lambda invoke`.

The samples in this directory carry a signature made at a fixed past timestamp, so the intake
answers 401 (stale X-Signature-Timestamp) until they are re-signed with the current time:

    WEBHOOK_SECRET_OTMM=local-dev-otmm-webhook-secret \
      python3 events/sign-webhook.py events/webhook-otmm-asset-approved.json > /tmp/signed.json
    cargo lambda invoke webhook-intake --data-file /tmp/signed.json

The signature is `sha256=` + hex HMAC-SHA256(secret, "<timestamp>.<raw body>") in
X-Signature-256, with the unix timestamp in X-Signature-Timestamp (docs/webhook-contract.md).
The secret is read from WEBHOOK_SECRET_OTMM or WEBHOOK_SECRET_CONSONANCE according to the
event's path, or from --secret; else the local development secret, the one `connector serve`
checks on the simulators when those variables are not set (it prints it at start). --timestamp fixes the time (used to generate the samples).
Standard library only.
"""
import argparse
import hashlib
import hmac
import json
import os
import sys
import time

DEFAULT_SECRETS = {
    "otmm": "local-dev-otmm-webhook-secret",
    "consonance": "local-dev-consonance-webhook-secret",
}


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("event", help="API Gateway v2 event JSON file")
    ap.add_argument("--secret", help="signing secret (default: env WEBHOOK_SECRET_<SOURCE>, then the local-dev default)")
    ap.add_argument("--timestamp", type=int, help="unix seconds (default: now)")
    ap.add_argument("--in-place", action="store_true", help="rewrite the file instead of printing")
    args = ap.parse_args()

    with open(args.event, encoding="utf-8") as f:
        event = json.load(f)
    source = event["rawPath"].rstrip("/").rsplit("/", 1)[-1]
    secret = args.secret or os.environ.get(f"WEBHOOK_SECRET_{source.upper()}") or DEFAULT_SECRETS.get(source)
    if not secret:
        print(f"no secret for source {source!r}", file=sys.stderr)
        return 2
    ts = args.timestamp if args.timestamp is not None else int(time.time())
    body = event["body"].encode("utf-8")
    headers = event.setdefault("headers", {})
    headers["x-signature-timestamp"] = str(ts)
    headers["x-signature-256"] = sign(secret.encode("utf-8"), ts, body)
    headers["content-length"] = str(len(body))
    event["requestContext"]["timeEpoch"] = ts * 1000
    text = json.dumps(event, indent=2) + "\n"
    if args.in_place:
        with open(args.event, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
