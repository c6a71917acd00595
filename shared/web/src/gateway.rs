//! What API Gateway (HTTP API, payload v2) says about a request, as extractors. `lambda_http`
//! decodes the event into an `http::Request` and keeps the request context in its extensions;
//! a request that did not come through API Gateway (the local runner, a test) has none, and
//! every extractor here then yields `None`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lambda_http::request::RequestContext;
use std::convert::Infallible;

fn context(parts: &Parts) -> Option<&lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext> {
    match parts.extensions.get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => Some(ctx),
        _ => None,
    }
}

/// The platform's request id (`requestContext.requestId`), for correlation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(RequestId(context(parts).and_then(|c| c.request_id.clone())))
    }
}

/// Who API Gateway says the caller is, for the audit trail: the JWT authorizer's `sub` claim
/// (read routes), else the IAM caller's user ARN (admin routes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let caller = context(parts).and_then(|c| c.authorizer.as_ref()).and_then(|a| {
            let jwt = a.jwt.as_ref().and_then(|j| j.claims.get("sub").cloned());
            jwt.or_else(|| a.iam.as_ref().and_then(|i| i.user_arn.clone()))
        });
        Ok(Caller(caller))
    }
}
