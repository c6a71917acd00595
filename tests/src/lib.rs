//! Helpers shared by the integration tests (moto endpoint, template-driven resources).
