//! OpenText Media Management (OTMM) REST client.
