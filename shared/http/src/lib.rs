//! Resilient HTTP calls shared by the OTMM and Consonance clients: timeouts, retries with backoff and jitter, Retry-After, concurrency and rate limits, spans.
