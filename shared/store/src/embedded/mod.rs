//! Embedded adapters: SQLite for state and queue, a directory for staging.
