//! S3 adapter: the staging bucket. SHA-256 and MD5 are computed while writing and stored as
//! user metadata (`sha256`, `md5`); reads are checked against the stored SHA-256.

use super::{AwsConfig, sdk_error};
use crate::{ByteStream, Checksums, ObjectInfo, ObjectSummary, PART_SIZE, Result, Staging, StoreError};
use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::primitives::ByteStream as S3Body;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use md5::{Digest, Md5};
use std::collections::HashMap;

const BACKEND: &str = "s3";
const META_SHA256: &str = "sha256";
const META_MD5: &str = "md5";
const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
/// CopyObject's limit; multipart objects get their checksum metadata by a copy onto themselves.
const MAX_COPY_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// The staging bucket on S3.
#[derive(Debug, Clone)]
pub struct S3Staging {
    client: Client,
    bucket: String,
}

fn md5_base64(bytes: &[u8]) -> String {
    STANDARD.encode(Md5::digest(bytes))
}

fn md5_hex_to_base64(hex_md5: &str) -> Option<String> {
    hex::decode(hex_md5).ok().map(|raw| STANDARD.encode(raw))
}

fn size_of(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

/// Percent-encodes a key for `x-amz-copy-source` (everything but unreserved characters and `/`).
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn stream_error(key: &str, e: &std::io::Error) -> StoreError {
    StoreError::Backend {
        backend: BACKEND,
        operation: "read upload body",
        message: format!("body of {key} failed: {e}"),
        transient: crate::support::source_failure_is_transient(e),
    }
}

impl S3Staging {
    pub fn new(client: Client, cfg: &AwsConfig) -> Self {
        S3Staging { client, bucket: cfg.bucket.clone() }
    }

    fn what(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn info(
        &self,
        key: &str,
        size: u64,
        metadata: Option<&HashMap<String, String>>,
        content_type: Option<&str>,
        version_id: Option<&str>,
    ) -> Result<ObjectInfo> {
        let meta = |name: &str| metadata.and_then(|m| m.get(name)).cloned();
        let missing = |name: &str| StoreError::Corrupt {
            key: self.what(key),
            message: format!("object has no `{name}` metadata (not written by this adapter?)"),
        };
        Ok(ObjectInfo {
            key: key.to_string(),
            size,
            sha256: meta(META_SHA256).ok_or_else(|| missing(META_SHA256))?,
            md5: meta(META_MD5).ok_or_else(|| missing(META_MD5))?,
            content_type: content_type.unwrap_or(DEFAULT_CONTENT_TYPE).to_string(),
            // "null" is what S3 reports for objects written while versioning was off.
            version_id: version_id.filter(|v| *v != "null").map(str::to_string),
        })
    }

    async fn put_whole(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        (size, sha256, md5): (u64, String, String),
    ) -> Result<ObjectInfo> {
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .set_content_md5(md5_hex_to_base64(&md5))
            .metadata(META_SHA256, &sha256)
            .metadata(META_MD5, &md5)
            .body(S3Body::from(body))
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "PutObject", &self.what(key), e))?;
        Ok(ObjectInfo {
            key: key.to_string(),
            size,
            sha256,
            md5,
            content_type: content_type.to_string(),
            version_id: out.version_id.filter(|v| v != "null"),
        })
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        part: Bytes,
    ) -> Result<CompletedPart> {
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number)
            .content_md5(md5_base64(&part))
            .body(S3Body::from(part))
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "UploadPart", &format!("{} part {number}", self.what(key)), e))?;
        Ok(CompletedPart::builder().part_number(number).set_e_tag(out.e_tag).build())
    }

    /// Uploads `first` (more than one part's worth) and the rest of `body` as parts, completes
    /// the upload, then sets the checksum metadata. The caller aborts the upload on error.
    async fn multipart(
        &self,
        key: &str,
        upload_id: &str,
        content_type: &str,
        mut buf: BytesMut,
        body: &mut ByteStream,
        mut sums: Checksums,
    ) -> Result<ObjectInfo> {
        let mut parts = Vec::new();
        let mut number = 0;
        loop {
            // Only more-than-a-part is split off, so the last part is never empty.
            while buf.len() > PART_SIZE {
                number += 1;
                let part = buf.split_to(PART_SIZE).freeze();
                parts.push(self.upload_part(key, upload_id, number, part).await?);
            }
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| stream_error(key, &e))?;
                    sums.update(&chunk);
                    buf.extend_from_slice(&chunk);
                }
                None => break,
            }
        }
        number += 1;
        parts.push(self.upload_part(key, upload_id, number, buf.freeze()).await?);
        let done = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "CompleteMultipartUpload", &self.what(key), e))?;
        let (size, sha256, md5) = sums.finish();
        let uploaded_version = done.version_id.filter(|v| v != "null");
        match self
            .set_checksum_metadata(key, uploaded_version.as_deref(), content_type, &sha256, &md5, size)
            .await
        {
            Ok(version_id) => {
                if let Some(old) = &uploaded_version {
                    // The metadata-less version the upload left behind; lifecycle would expire it.
                    self.delete_version(key, old).await;
                }
                Ok(ObjectInfo {
                    key: key.to_string(),
                    size,
                    sha256,
                    md5,
                    content_type: content_type.into(),
                    version_id,
                })
            }
            Err(e) => {
                // Leave no object without checksums behind.
                self.delete_version(key, uploaded_version.as_deref().unwrap_or("null")).await;
                Err(e)
            }
        }
    }

    /// The checksums are known only after the last part, and S3 metadata is immutable: copy
    /// the object onto itself with the metadata replaced. Returns the new version id.
    async fn set_checksum_metadata(
        &self,
        key: &str,
        version: Option<&str>,
        content_type: &str,
        sha256: &str,
        md5: &str,
        size: u64,
    ) -> Result<Option<String>> {
        if size > MAX_COPY_SIZE {
            return Err(StoreError::Backend {
                backend: BACKEND,
                operation: "CopyObject",
                message: format!(
                    "{}: {size} bytes is over CopyObject's 5 GiB limit, so its checksum metadata cannot be set",
                    self.what(key)
                ),
                transient: false,
            });
        }
        let mut source = format!("{}/{}", self.bucket, encode_key(key));
        if let Some(v) = version {
            source.push_str(&format!("?versionId={v}"));
        }
        let out = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(key)
            .copy_source(source)
            .metadata_directive(MetadataDirective::Replace)
            .content_type(content_type)
            .metadata(META_SHA256, sha256)
            .metadata(META_MD5, md5)
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "CopyObject", &self.what(key), e))?;
        Ok(out.version_id.filter(|v| v != "null"))
    }

    /// Best effort: a failure leaves an orphan version for the lifecycle rule, nothing worse.
    async fn delete_version(&self, key: &str, version: &str) {
        let mut request = self.client.delete_object().bucket(&self.bucket).key(key);
        if version != "null" {
            request = request.version_id(version);
        }
        if let Err(e) = request.send().await {
            tracing::warn!(key = %self.what(key), version, error = %aws_sdk_s3::error::DisplayErrorContext(&e), "could not delete an intermediate object version");
        }
    }
}

#[async_trait]
impl Staging for S3Staging {
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<ObjectInfo> {
        let sums = Checksums::of(&body);
        self.put_whole(key, body, content_type, sums).await
    }

    async fn put_stream(&self, key: &str, mut body: ByteStream, content_type: &str) -> Result<ObjectInfo> {
        let mut sums = Checksums::default();
        let mut buf = BytesMut::new();
        // A body that fits one part is one PutObject.
        while buf.len() <= PART_SIZE {
            match body.next().await {
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| stream_error(key, &e))?;
                    sums.update(&chunk);
                    buf.extend_from_slice(&chunk);
                }
                None => {
                    return self.put_whole(key, buf.freeze(), content_type, sums.finish()).await;
                }
            }
        }
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| sdk_error(BACKEND, "CreateMultipartUpload", &self.what(key), e))?;
        let upload_id = created.upload_id.ok_or_else(|| StoreError::Backend {
            backend: BACKEND,
            operation: "CreateMultipartUpload",
            message: format!("{}: answered without an upload id", self.what(key)),
            transient: false,
        })?;
        match self.multipart(key, &upload_id, content_type, buf, &mut body, sums).await {
            Ok(info) => Ok(info),
            Err(e) => {
                let aborted = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                if let Err(abort) = aborted {
                    tracing::warn!(key = %self.what(key), upload_id, error = %aws_sdk_s3::error::DisplayErrorContext(&abort), "could not abort a failed multipart upload");
                }
                Err(e)
            }
        }
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let out = match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) if matches!(e.as_service_error(), Some(HeadObjectError::NotFound(_))) => return Ok(None),
            Err(e) => return Err(sdk_error(BACKEND, "HeadObject", &self.what(key), e)),
        };
        let size = out.content_length().and_then(|l| u64::try_from(l).ok()).unwrap_or_default();
        self.info(key, size, out.metadata(), out.content_type(), out.version_id()).map(Some)
    }

    async fn get(&self, key: &str) -> Result<Option<(ObjectInfo, Bytes)>> {
        let out = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => return Ok(None),
            Err(e) => return Err(sdk_error(BACKEND, "GetObject", &self.what(key), e)),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::Backend {
                backend: BACKEND,
                operation: "GetObject",
                message: format!("{}: reading the body failed: {e}", self.what(key)),
                transient: true,
            })?
            .into_bytes();
        let info = self.info(
            key,
            size_of(bytes.len()),
            out.metadata.as_ref(),
            out.content_type.as_deref(),
            out.version_id.as_deref(),
        )?;
        let (_, actual, _) = Checksums::of(&bytes);
        if actual != info.sha256 {
            return Err(StoreError::Checksum { key: self.what(key), expected: info.sha256, actual });
        }
        Ok(Some((info, bytes)))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error(BACKEND, "ListObjectsV2", &self.what(prefix), e))?;
            for object in page.contents.unwrap_or_default() {
                if let Some(key) = object.key {
                    let size = object.size.and_then(|s| u64::try_from(s).ok()).unwrap_or_default();
                    out.push(ObjectSummary { key, size });
                }
            }
            match page.next_continuation_token {
                Some(next) if page.is_truncated == Some(true) => token = Some(next),
                _ => return Ok(out),
            }
        }
    }
}
