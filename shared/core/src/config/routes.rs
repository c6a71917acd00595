//! How a role reaches Consonance: a JPG supporting resource or a web link, and how a
//! supporting resource's file gets there.
//!
//! Consonance's `CreateSupportingResourceInput` says `imageRemoteUrl` "Must be a JPG file" and
//! `resourceFileName` is "The name of the JPG to upload" (schema page
//! graphql-schema.consonance.app `createsupportingresourceinput`): supporting resources are JPG
//! images. Audio samples, trailers and PDFs go as web links (`createWebLink`, ONIX list 73
//! `role`) to the file, staged or in OTMM.

use super::{Problems, non_empty, path};
use serde::{Deserialize, Serialize};

/// Where a web link points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkTarget {
    /// The OTMM delivery URL of the version (`OTMM_CONTENT_URL_TEMPLATE`).
    Otmm,
    /// A copy in the staging bucket, under `consonance.staged_link_base_url`.
    Staged,
}

impl LinkTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkTarget::Otmm => "otmm",
            LinkTarget::Staged => "staged",
        }
    }
}

/// The route a role takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "route", rename_all = "snake_case")]
pub enum LinkRoute {
    /// `createSupportingResource` with these enum values (not public: the tenant's own).
    SupportingResource { resource_variant: String, status: String },
    /// `createWebLink` on each product, with this ONIX list 73 role (two digits).
    WebLink { website_role: String, target: LinkTarget },
}

impl LinkRoute {
    pub fn is_web_link(&self) -> bool {
        matches!(self, LinkRoute::WebLink { .. })
    }
}

/// How the file of a supporting resource reaches Consonance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadMethod {
    /// `imageRemoteUrl`: Consonance fetches the JPG; "The presigned URL and subsequent
    /// mutation are not required" (schema page `supportingresource`).
    RemoteUrl,
    /// `resourceFileName`, then a PUT to the presigned URL the create answers with, then
    /// `follow_up_mutation` (the "subsequent mutation", name UNCONFIRMED).
    Presigned,
}

/// `[consonance.upload]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadConfig {
    pub method: UploadMethod,
    /// A GraphQL document run after a presigned upload with variables `{"id": <resource id>}`;
    /// `connector check` validates it against the tenant's schema.
    pub follow_up_mutation: Option<String>,
}

impl Default for UploadConfig {
    fn default() -> Self {
        UploadConfig { method: UploadMethod::RemoteUrl, follow_up_mutation: None }
    }
}

pub(super) mod raw {
    use super::{LinkTarget, UploadMethod};
    use serde::Deserialize;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Route {
        SupportingResource,
        WebLink,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Upload {
        pub method: Option<UploadMethod>,
        pub follow_up_mutation: Option<String>,
    }

    /// The route keys of a `[consonance.resources.<role>]` table.
    pub struct RouteKeys<'a> {
        pub route: Option<Route>,
        pub resource_variant: &'a Option<String>,
        pub status: &'a Option<String>,
        pub website_role: &'a Option<String>,
        pub link_target: Option<LinkTarget>,
    }
}

/// An ONIX list 73 code as two digits (`"2"`, `"02"` and `"_02"` all mean 02).
pub fn website_role_code(s: &str) -> Option<String> {
    let d = s.trim().trim_start_matches('_');
    match d.len() {
        1 | 2 if d.bytes().all(|b| b.is_ascii_digit()) => Some(format!("{d:0>2}")),
        _ => None,
    }
}

pub(super) fn validate_route(p: &mut Problems, role: &str, keys: raw::RouteKeys<'_>) -> LinkRoute {
    let key = |leaf: &str| path(&["consonance", "resources", role, leaf]);
    let forbid = |p: &mut Problems, leaf: &str, set: bool, route: &str| {
        if set {
            p.add(key(leaf), format!("does not apply to route = \"{route}\""));
        }
    };
    match keys.route.unwrap_or(raw::Route::SupportingResource) {
        raw::Route::SupportingResource => {
            forbid(p, "website_role", keys.website_role.is_some(), "supporting_resource");
            forbid(p, "link_target", keys.link_target.is_some(), "supporting_resource");
            let mut required = |leaf: &str, v: &Option<String>| match v {
                Some(v) => non_empty(p, key(leaf), v),
                None => {
                    p.add(
                        key(leaf),
                        "is required for a supporting resource (route = \"supporting_resource\")",
                    );
                    String::new()
                }
            };
            LinkRoute::SupportingResource {
                resource_variant: required("resource_variant", keys.resource_variant),
                status: required("status", keys.status),
            }
        }
        raw::Route::WebLink => {
            forbid(p, "resource_variant", keys.resource_variant.is_some(), "web_link");
            forbid(p, "status", keys.status.is_some(), "web_link");
            let website_role = match keys.website_role.as_deref() {
                None => {
                    p.add(
                        key("website_role"),
                        "is required for route = \"web_link\" (ONIX list 73, e.g. \"28\")",
                    );
                    String::new()
                }
                Some(r) => website_role_code(r).unwrap_or_else(|| {
                    p.add(
                        key("website_role"),
                        format!(
                            "{r:?} is not an ONIX list 73 website role; expected two digits such as \"28\""
                        ),
                    );
                    String::new()
                }),
            };
            LinkRoute::WebLink { website_role, target: keys.link_target.unwrap_or(LinkTarget::Otmm) }
        }
    }
}

pub(super) fn validate_upload(p: &mut Problems, raw: &raw::Upload) -> UploadConfig {
    let follow_up_mutation = raw.follow_up_mutation.as_ref().map(|m| {
        let v = non_empty(p, path(&["consonance", "upload", "follow_up_mutation"]), m);
        if !v.is_empty() && !v.trim_start().starts_with("mutation") {
            p.add(
                path(&["consonance", "upload", "follow_up_mutation"]),
                "must be a GraphQL mutation document (starting with `mutation`) taking $id: Int!",
            );
        }
        v
    });
    let method = raw.method.unwrap_or(UploadMethod::RemoteUrl);
    if method == UploadMethod::RemoteUrl && follow_up_mutation.is_some() {
        p.add(
            path(&["consonance", "upload", "follow_up_mutation"]),
            "applies to method = \"presigned\" only (imageRemoteUrl needs no subsequent mutation)",
        );
    }
    UploadConfig { method, follow_up_mutation }
}

/// Whether a file is a JPEG, the only kind a supporting resource takes. The MIME type decides
/// when it says anything; a generic one (`application/octet-stream`, empty) defers to the name.
pub fn is_jpeg(mime_type: &str, file_name: &str) -> bool {
    let mime = mime_type.trim().to_ascii_lowercase();
    match mime.as_str() {
        "image/jpeg" | "image/jpg" | "image/pjpeg" => true,
        "" | "application/octet-stream" | "binary/octet-stream" => {
            let name = file_name.trim().to_ascii_lowercase();
            name.ends_with(".jpg") || name.ends_with(".jpeg")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_by_mime_then_name() {
        assert!(is_jpeg("image/jpeg", "x.png"));
        assert!(is_jpeg("IMAGE/JPEG", "x"));
        assert!(is_jpeg("application/octet-stream", "cover.JPG"));
        assert!(!is_jpeg("image/png", "cover.jpg"));
        assert!(!is_jpeg("video/mp4", "trailer.mp4"));
        assert!(!is_jpeg("", "sample.mp3"));
    }

    #[test]
    fn website_roles_normalise() {
        assert_eq!(website_role_code("2").as_deref(), Some("02"));
        assert_eq!(website_role_code("_28").as_deref(), Some("28"));
        assert_eq!(website_role_code("B2B"), None);
        assert_eq!(website_role_code("123"), None);
    }
}
