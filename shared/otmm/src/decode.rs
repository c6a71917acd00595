//! OTMM's answers as pure functions over the bytes the client read: the JSON body, or the error
//! a non-success answer means. The client calls these after each exchange; the fuzz targets
//! (`fuzz/`) call them directly, so everything OTMM (or something in front of it) can send is
//! decoded without a panic. What a failure means is [`connector_http::fault`]'s table.

use crate::error::{OtmmError, from_status};
use crate::model::{OtmmAsset, at, parse_asset};
use serde_json::Value;
use std::time::Duration;

/// The body as JSON. A body that is not JSON (cut short, an HTML page from a proxy, empty) is
/// [`OtmmError::Unreadable`]: OTMM always answers JSON, so something else wrote it.
pub fn decode_json(operation: &'static str, body: &[u8]) -> Result<Value, OtmmError> {
    serde_json::from_slice(body).map_err(|e| {
        let start: String = String::from_utf8_lossy(&body[..body.len().min(60)]).into();
        OtmmError::unreadable(operation, format!("invalid JSON ({e}); body starts {start:?}"))
    })
}

/// One whole answer of `GET /assets/{id}`: the asset, or what the status and body mean.
pub fn decode_asset_answer(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<OtmmAsset, OtmmError> {
    const OP: &str = "get_asset";
    if !(200..300).contains(&status) {
        return Err(from_status(OP, "asset", status, retry_after, body));
    }
    let v = decode_json(OP, body)?;
    parse_asset(OP, at(OP, &v, "asset_resource.asset")?, "asset_resource.asset")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbled_bodies_are_unreadable_and_shapes_are_contract_mismatches() {
        for body in
            [&b""[..], b"{\"asset_resource\":{\"asse", b"<html><body>502 Bad Gateway (proxy)</body></html>"]
        {
            let e = decode_asset_answer(200, None, body).unwrap_err();
            assert!(matches!(e, OtmmError::Unreadable { .. }) && e.is_transient(), "{e:?}");
        }
        let e = decode_asset_answer(200, None, br#"{"asset_resource":{}}"#).unwrap_err();
        assert!(matches!(e, OtmmError::Protocol { .. }) && !e.is_transient(), "{e:?}");
        let e = decode_asset_answer(503, Some(Duration::from_secs(2)), b"<html>").unwrap_err();
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
    }
}
