"""moto's server with DynamoDB's per-item atomicity, as AWS gives it.

moto (5.2) evaluates a write's ConditionExpression and then applies the write without a lock,
while its server answers requests on many threads. Two concurrent conditional puts on one key
can then both succeed (seen here: 50 threads racing `attribute_not_exists(id) OR ...` on one
key, two winners in 1 run of 20), which real DynamoDB never allows ("conditional writes are
atomic", DynamoDB developer guide, "Condition expressions"). The intake's 50-concurrent-
duplicates test hit it on moto. Here every DynamoDB write request (PutItem, UpdateItem,
DeleteItem, BatchWriteItem, TransactWriteItems) runs under one lock: writes are serialised,
reads are not, so the stand-in is as strict as the real service and no stricter in what it
accepts.

Run as `python moto_atomic.py [moto_server args]` (./scripts/test does, for both servers);
tests/stack/moto_iam.py imports it for the IAM-enforcing one.
"""

import functools
import sys
import threading

from moto.dynamodb.responses import DynamoHandler

_write_lock = threading.RLock()


def _serialised(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with _write_lock:
            return method(self, *args, **kwargs)

    return wrapper


for _name in ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items"):
    setattr(DynamoHandler, _name, _serialised(getattr(DynamoHandler, _name)))


if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
