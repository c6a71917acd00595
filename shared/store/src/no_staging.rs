//! A staging port for a function that never stages: the reconciler and the API build the same
//! `App` as the flow processor, but only the processor builds packages (its role alone grants
//! S3 on the bucket), so theirs links no S3 client. A call that reaches it is a bug in the
//! wiring, reported as a permanent error naming the function.

use crate::{ByteStream, ObjectInfo, ObjectSummary, Result, Staging, StoreError};
use async_trait::async_trait;
use bytes::Bytes;

#[derive(Debug, Clone)]
pub struct NoStaging {
    function: &'static str,
}

impl NoStaging {
    /// `function` names the caller in the error, e.g. `"the reconciler"`.
    pub fn new(function: &'static str) -> NoStaging {
        NoStaging { function }
    }

    fn refuse(&self, operation: &'static str, key: &str) -> StoreError {
        StoreError::Backend {
            backend: "staging",
            operation,
            message: format!(
                "{key}: {} has no staging bucket (its role grants no S3); packages are staged by the flow processor",
                self.function
            ),
            transient: false,
        }
    }
}

#[async_trait]
impl Staging for NoStaging {
    async fn put(&self, key: &str, _body: Bytes, _content_type: &str) -> Result<ObjectInfo> {
        Err(self.refuse("put", key))
    }
    async fn put_stream(&self, key: &str, _body: ByteStream, _content_type: &str) -> Result<ObjectInfo> {
        Err(self.refuse("put_stream", key))
    }
    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        Err(self.refuse("head", key))
    }
    async fn get(&self, key: &str) -> Result<Option<(ObjectInfo, Bytes)>> {
        Err(self.refuse("get", key))
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>> {
        Err(self.refuse("list", prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_call_is_refused_permanently_naming_the_function() {
        let s = NoStaging::new("the reconciler");
        let err = s.head("packages/x/manifest.json").await.unwrap_err();
        assert!(!err.is_transient());
        assert!(
            err.to_string().contains("the reconciler") && err.to_string().contains("packages/x"),
            "{err}"
        );
        assert!(s.list("packages/").await.is_err());
        assert!(s.put("k", Bytes::new(), "text/plain").await.is_err());
    }
}
