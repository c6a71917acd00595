//! Simulators of the OTMM REST API and the Consonance GraphQL/REST APIs, with fault injection.
