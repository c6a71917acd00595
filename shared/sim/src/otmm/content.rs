//! Deterministic asset content: every 8-byte block is a hash of (asset id, block index), so
//! any size streams in fixed memory and a test can recompute what it should have received.

use bytes::Bytes;
use futures::Stream;
use sha2::{Digest, Sha256};

const CHUNK: u64 = 64 * 1024;

fn seed(asset_id: &str) -> u64 {
    let d = Sha256::digest(asset_id.as_bytes());
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Bytes `offset .. offset + len` of the asset's content (`offset` a multiple of 8).
fn chunk(seed: u64, offset: u64, len: usize) -> Bytes {
    let mut out = Vec::with_capacity(len + 8);
    let mut block = offset / 8;
    while out.len() < len {
        out.extend_from_slice(&splitmix(seed ^ block.wrapping_mul(0x2545_F491_4F6C_DD1D)).to_le_bytes());
        block += 1;
    }
    out.truncate(len);
    Bytes::from(out)
}

/// The content of `asset_id` with `size` bytes, in 64 KiB chunks.
pub fn content_stream(
    asset_id: &str,
    size: u64,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let seed = seed(asset_id);
    futures::stream::unfold(0u64, move |offset| async move {
        if offset >= size {
            return None;
        }
        let len = CHUNK.min(size - offset) as usize;
        Some((Ok(chunk(seed, offset, len)), offset + len as u64))
    })
}

/// Hex SHA-256 of the content `content_stream(asset_id, size)` yields.
pub fn content_sha256(asset_id: &str, size: u64) -> String {
    let seed = seed(asset_id);
    let mut hasher = Sha256::new();
    let mut offset = 0;
    while offset < size {
        let len = CHUNK.min(size - offset) as usize;
        hasher.update(chunk(seed, offset, len));
        offset += len as u64;
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt as _;

    #[tokio::test]
    async fn stream_matches_hash_and_differs_per_asset() {
        let mut hasher = Sha256::new();
        let mut total = 0;
        let mut s = Box::pin(content_stream("a", 200_003));
        while let Some(c) = s.next().await {
            let c = c.unwrap();
            total += c.len();
            hasher.update(&c);
        }
        assert_eq!(total, 200_003);
        assert_eq!(hex::encode(hasher.finalize()), content_sha256("a", 200_003));
        assert_ne!(content_sha256("a", 1000), content_sha256("b", 1000));
    }
}
