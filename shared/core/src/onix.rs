//! ONIX 3.0 `SupportingResource` fragments for staged files, written by hand (no ONIX crate
//! exists) with XML escaping. Element order follows the ONIX 3.0 reference XSD
//! (`SupportingResource`: ResourceContentType, ContentAudience+, Territory?, ResourceMode,
//! ResourceFeature*, ResourceVersion+; `ResourceVersion`: ResourceForm,
//! ResourceVersionFeature*, ResourceLink+, ContentDate*). Codes: list 158 from
//! [`AssetRole::onix_content_type`], list 154 `00` unrestricted audience, list 159 from
//! [`AssetRole::resource_mode`], list 161 `02` downloadable file, list 162 `07` exact size in
//! bytes, `06` MD5, `08` SHA-256. The fragments carry no namespace: they are placed inside an
//! `ONIXMessage` in the reference namespace (`http://ns.editeur.org/onix/3.0/reference`).

use crate::role::AssetRole;

/// ONIX 3.0 reference-tag namespace, for whoever wraps the fragments in a message.
pub const ONIX_30_NAMESPACE: &str = "http://ns.editeur.org/onix/3.0/reference";

/// Escapes text for XML character data and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow at all are dropped rather than written.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// One downloadable file as ONIX describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceFile<'a> {
    pub role: AssetRole,
    pub link: &'a str,
    pub size: u64,
    pub md5: &'a str,
    pub sha256: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnixError {
    #[error("role {0} has no ONIX ResourceContentType (list 158)")]
    NoContentType(AssetRole),
}

/// The `SupportingResource` fragment for one file.
pub fn supporting_resource(file: &ResourceFile<'_>) -> Result<String, OnixError> {
    let content_type = file.role.onix_content_type().ok_or(OnixError::NoContentType(file.role))?;
    let feature = |kind: &str, value: &str| {
        format!(
            "    <ResourceVersionFeature>\n      <ResourceVersionFeatureType>{kind}</ResourceVersionFeatureType>\n      <FeatureValue>{}</FeatureValue>\n    </ResourceVersionFeature>\n",
            escape(value)
        )
    };
    let mut xml = String::new();
    xml.push_str("<SupportingResource>\n");
    xml.push_str(&format!("  <ResourceContentType>{content_type}</ResourceContentType>\n"));
    xml.push_str("  <ContentAudience>00</ContentAudience>\n");
    xml.push_str(&format!("  <ResourceMode>{}</ResourceMode>\n", file.role.resource_mode().onix_code()));
    xml.push_str("  <ResourceVersion>\n");
    xml.push_str("    <ResourceForm>02</ResourceForm>\n");
    xml.push_str(&feature("07", &file.size.to_string()));
    xml.push_str(&feature("06", file.md5));
    xml.push_str(&feature("08", file.sha256));
    xml.push_str(&format!("    <ResourceLink>{}</ResourceLink>\n", escape(file.link)));
    xml.push_str("  </ResourceVersion>\n");
    xml.push_str("</SupportingResource>\n");
    Ok(xml)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fragment_has_the_elements_in_xsd_order() {
        let xml = supporting_resource(&ResourceFile {
            role: AssetRole::AudioSample,
            link: "https://x.example/a?b=1&c=2",
            size: 1234,
            md5: "0123456789abcdef0123456789abcdef",
            sha256: &"ab".repeat(32),
        })
        .unwrap();
        let order = [
            "<ResourceContentType>15<",
            "<ContentAudience>00<",
            "<ResourceMode>02<",
            "<ResourceForm>02<",
            "<ResourceVersionFeatureType>07<",
            "<FeatureValue>1234<",
            "<ResourceVersionFeatureType>06<",
            "<ResourceVersionFeatureType>08<",
            "<ResourceLink>https://x.example/a?b=1&amp;c=2<",
        ];
        let mut at = 0;
        for needle in order {
            let found =
                xml[at..].find(needle).unwrap_or_else(|| panic!("{needle} missing or out of order in {xml}"));
            at += found + needle.len();
        }
        assert!(
            supporting_resource(&ResourceFile {
                role: AssetRole::SocialGraphic,
                ..ResourceFile { role: AssetRole::FrontCover, link: "", size: 0, md5: "", sha256: "" }
            })
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn escaped_text_has_no_markup(s in ".*") {
            let e = escape(&s);
            prop_assert!(!e.contains('<') && !e.contains('>') && !e.contains('"'));
            // Every ampersand starts an entity.
            for (i, _) in e.match_indices('&') {
                let rest = &e[i..];
                prop_assert!(["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().any(|x| rest.starts_with(x)));
            }
        }
    }
}
