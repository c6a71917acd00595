//! Consonance client: GraphQL (reads and writes) and REST v4 products (read fallback).
