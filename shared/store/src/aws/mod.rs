//! AWS adapters: DynamoDB (mapping, audit, idempotency, checkpoints), SQS (queue), S3 (staging).
