//! Staging in a directory: `<root>/objects/<key>` holds the bytes, `<root>/meta/<key>.json`
//! the checksums. Writes go to a temporary file first and are renamed into place, so a reader
//! never sees half an object.

use super::io_error;
use crate::{ByteStream, Checksums, ObjectInfo, ObjectSummary, Result, Staging, StoreError};
use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use std::path::{Component, Path, PathBuf};
use tokio::io::AsyncWriteExt;

pub struct DirStaging {
    root: PathBuf,
}

impl DirStaging {
    pub fn open(root: &Path) -> Result<Self> {
        for sub in ["objects", "meta", "tmp"] {
            std::fs::create_dir_all(root.join(sub))
                .map_err(|e| io_error("create staging directory", root, e))?;
        }
        Ok(DirStaging { root: root.to_path_buf() })
    }

    fn checked_key(key: &str) -> Result<&Path> {
        let path = Path::new(key);
        let ok = !key.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
        if ok {
            Ok(path)
        } else {
            Err(StoreError::Backend {
                backend: "filesystem",
                operation: "resolve object key",
                message: format!("object key {key:?} must be a relative path without '..'"),
                transient: false,
            })
        }
    }

    fn object_path(&self, key: &str) -> Result<PathBuf> {
        Ok(self.root.join("objects").join(Self::checked_key(key)?))
    }

    fn meta_path(&self, key: &str) -> Result<PathBuf> {
        Ok(self.root.join("meta").join(format!("{}.json", Self::checked_key(key)?.display())))
    }

    async fn commit(&self, key: &str, tmp: &Path, info: &ObjectInfo) -> Result<()> {
        let (object, meta) = (self.object_path(key)?, self.meta_path(key)?);
        for p in [&object, &meta] {
            if let Some(parent) = p.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| io_error("create key directory", parent, e))?;
            }
        }
        let json = serde_json::to_vec(info)
            .map_err(|e| StoreError::Corrupt { key: key.into(), message: e.to_string() })?;
        tokio::fs::write(&meta, json).await.map_err(|e| io_error("write object metadata", &meta, e))?;
        tokio::fs::rename(tmp, &object).await.map_err(|e| io_error("move object into place", &object, e))
    }

    fn tmp_path(&self) -> PathBuf {
        self.root.join("tmp").join(uuid::Uuid::new_v4().to_string())
    }
}

#[async_trait]
impl Staging for DirStaging {
    async fn put(&self, key: &str, body: Bytes, content_type: &str) -> Result<ObjectInfo> {
        let stream: ByteStream = futures::stream::iter([Ok(body)]).boxed();
        self.put_stream(key, stream, content_type).await
    }

    async fn put_stream(&self, key: &str, mut body: ByteStream, content_type: &str) -> Result<ObjectInfo> {
        Self::checked_key(key)?;
        let tmp = self.tmp_path();
        let mut file =
            tokio::fs::File::create(&tmp).await.map_err(|e| io_error("create temporary file", &tmp, e))?;
        let mut sums = Checksums::default();
        let written: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| {
                    // The source (OTMM) timed out or broke off: transient, as on S3.
                    let transient = crate::support::source_failure_is_transient(&e);
                    match io_error("read upload stream", Path::new(key), e) {
                        StoreError::Backend { backend, operation, message, .. } => {
                            StoreError::Backend { backend, operation, message, transient }
                        }
                        other => other,
                    }
                })?;
                sums.update(&chunk);
                file.write_all(&chunk).await.map_err(|e| io_error("write object", &tmp, e))?;
            }
            file.flush().await.map_err(|e| io_error("flush object", &tmp, e))?;
            file.sync_all().await.map_err(|e| io_error("sync object", &tmp, e))
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let (size, sha256, md5) = sums.finish();
        let info = ObjectInfo {
            key: key.to_string(),
            size,
            sha256,
            md5,
            content_type: content_type.to_string(),
            version_id: None,
        };
        self.commit(key, &tmp, &info).await?;
        Ok(info)
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let meta = self.meta_path(key)?;
        match tokio::fs::read(&meta).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt { key: key.to_string(), message: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read object metadata", &meta, e)),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<(ObjectInfo, Bytes)>> {
        let Some(info) = self.head(key).await? else { return Ok(None) };
        let path = self.object_path(key)?;
        let bytes = tokio::fs::read(&path).await.map_err(|e| io_error("read object", &path, e))?;
        let (_, sha256, _) = Checksums::of(&bytes);
        if sha256 != info.sha256 {
            return Err(StoreError::Checksum { key: key.to_string(), expected: info.sha256, actual: sha256 });
        }
        Ok(Some((info, Bytes::from(bytes))))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectSummary>> {
        let root = self.root.join("meta");
        let prefix = prefix.to_string();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut dirs = vec![root.clone()];
            while let Some(dir) = dirs.pop() {
                let entries = std::fs::read_dir(&dir).map_err(|e| io_error("list staging", &dir, e))?;
                for entry in entries {
                    let entry = entry.map_err(|e| io_error("list staging", &dir, e))?;
                    let path = entry.path();
                    if path.is_dir() {
                        dirs.push(path);
                        continue;
                    }
                    let Ok(rel) = path.strip_prefix(&root) else { continue };
                    let Some(key) = rel.to_str().and_then(|k| k.strip_suffix(".json")) else { continue };
                    if key.starts_with(&prefix) {
                        let info: ObjectInfo = serde_json::from_slice(
                            &std::fs::read(&path).map_err(|e| io_error("read object metadata", &path, e))?,
                        )
                        .map_err(|e| StoreError::Corrupt { key: key.to_string(), message: e.to_string() })?;
                        out.push(ObjectSummary { key: key.to_string(), size: info.size });
                    }
                }
            }
            out.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
        .await
        .map_err(|e| StoreError::Backend {
            backend: "filesystem",
            operation: "list staging",
            message: e.to_string(),
            transient: false,
        })?
    }
}
