//! `[packages]`: production packages (flow 5). Which final files a product of each form needs
//! per channel before a package is staged, and where staged files are reachable from outside.
//! Its own table and structs, so the rest of the mapping config stays untouched.

use super::{Problems, ProductForm, ResourceSettings, parse_role, path};
use crate::delivery::{DeliverySpec, PRESETS};
use crate::rights::Channel;
use crate::role::AssetRole;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The channels a package is built for.
pub const PACKAGE_CHANNELS: [Channel; 3] = [Channel::Print, Channel::Ebook, Channel::Audio];

/// The validated `[packages]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackagesConfig {
    /// Base URL under which staged objects are reachable by partners (a CDN or a presigning
    /// proxy in front of the staging bucket), ending with `/`. A file's ONIX `ResourceLink` and
    /// the Consonance web link of a released package are this plus the object key.
    pub link_base_url: String,
    /// ONIX list 73 website role of the web link a release adds to the product (two digits).
    pub release_link_role: String,
    pub channels: BTreeMap<Channel, ChannelPackage>,
    /// `[packages.recipients.<name>]`: who receives the packages and what each checks. Empty:
    /// no delivery checks (packages are staged as before).
    pub recipients: Vec<Recipient>,
    /// OTMM metadata field (text) set on an asset whose file failed a recipient's check, with
    /// the reasons; cleared when its packages pass again. `None`: assets are not flagged.
    pub check_flag_field: Option<String>,
}

/// A named recipient of packages (a printer, an ebook vendor, an audio retailer): the channel
/// and product forms it takes, and the spec its files are checked against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recipient {
    pub name: String,
    pub channel: Channel,
    /// The forms of the channel it takes (all of the channel's when the config lists none).
    pub forms: BTreeSet<ProductForm>,
    /// The preset the spec started from, if any (recorded in the manifest).
    pub preset: Option<String>,
    pub spec: DeliverySpec,
}

/// What a package of one channel holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelPackage {
    /// Product forms packaged for this channel.
    pub forms: BTreeSet<ProductForm>,
    /// Roles that must all have an approved, linked file whose rights allow the product.
    pub roles: Vec<AssetRole>,
    /// Roles packaged when present; a file whose rights forbid the product is left out.
    pub optional_roles: Vec<AssetRole>,
}

impl ChannelPackage {
    pub fn takes(&self, role: AssetRole) -> bool {
        self.roles.contains(&role) || self.optional_roles.contains(&role)
    }
}

impl PackagesConfig {
    /// The channel a product of `form` is packaged for, if any (a form is in one channel).
    pub fn channel_for(&self, form: &ProductForm) -> Option<(Channel, &ChannelPackage)> {
        self.channels.iter().find(|(_, c)| c.forms.contains(form)).map(|(ch, c)| (*ch, c))
    }

    /// The recipients of a product of `form` in `channel`, in name order.
    pub fn recipients_for<'a>(
        &'a self,
        channel: Channel,
        form: &'a ProductForm,
    ) -> impl Iterator<Item = &'a Recipient> + 'a {
        self.recipients.iter().filter(move |r| r.channel == channel && r.forms.contains(form))
    }

    /// The public URL of a staged object.
    pub fn link_for(&self, key: &str) -> String {
        format!("{}{key}", self.link_base_url)
    }
}

pub(super) mod raw {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Packages {
        pub link_base_url: String,
        pub release_link_role: Option<String>,
        pub check_flag_field: Option<String>,
        pub print: Option<Channel>,
        pub ebook: Option<Channel>,
        pub audio: Option<Channel>,
        #[serde(default)]
        pub recipients: std::collections::BTreeMap<String, Recipient>,
    }

    /// A section given here replaces the preset's section whole (its unnamed keys take the
    /// issue's defaults for that kind, not the preset's values).
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Recipient {
        pub channel: String,
        #[serde(default)]
        pub forms: Vec<String>,
        pub preset: Option<String>,
        pub images: Option<crate::delivery::ImageSpec>,
        pub print_pdf: Option<crate::delivery::PrintPdfSpec>,
        pub epub: Option<crate::delivery::EpubSpec>,
        pub audio: Option<crate::delivery::AudioSpec>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Channel {
        pub forms: Vec<String>,
        pub roles: Vec<String>,
        #[serde(default)]
        pub optional_roles: Vec<String>,
    }
}

/// Validates `[packages]`. `mapped_roles` are the roles `[otmm.roles]` maps (checked only when
/// `roles_ok`); files are found through links, so every packaged role needs a
/// `[consonance.resources.<role>]` linking it to the channel's forms (checked when `resources_ok`).
pub(super) fn validate(
    p: &mut Problems,
    raw: &raw::Packages,
    mapped_roles: &BTreeSet<AssetRole>,
    roles_ok: bool,
    resources: &BTreeMap<AssetRole, ResourceSettings>,
    resources_ok: bool,
) -> PackagesConfig {
    let link_base_url = {
        let key = path(&["packages", "link_base_url"]);
        let v = raw.link_base_url.trim();
        if !(v.starts_with("https://") || v.starts_with("http://")) || v.len() <= "https://".len() {
            p.add(key, format!("{v:?} must be an http(s) URL, e.g. \"https://files.example.com/\""));
        } else if v.contains(char::is_whitespace) || v.contains(['?', '#']) {
            p.add(key, format!("{v:?} must be a plain base URL without spaces, query or fragment"));
        }
        if v.ends_with('/') { v.to_string() } else { format!("{v}/") }
    };
    let release_link_role = match &raw.release_link_role {
        None => "17".to_string(),
        Some(r) => {
            let v = r.trim();
            if v.len() != 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
                p.add(
                    path(&["packages", "release_link_role"]),
                    format!("{v:?} is not an ONIX list 73 website role; expected two digits such as \"17\""),
                );
            }
            v.to_string()
        }
    };

    let mut channels = BTreeMap::new();
    let mut form_owner: BTreeMap<ProductForm, Channel> = BTreeMap::new();
    for (channel, spec) in
        [(Channel::Print, &raw.print), (Channel::Ebook, &raw.ebook), (Channel::Audio, &raw.audio)]
    {
        let Some(spec) = spec else { continue };
        let key = |leaf: &str| path(&["packages", channel.as_str(), leaf]);
        let mut forms = BTreeSet::new();
        if spec.forms.is_empty() {
            p.add(key("forms"), "must list at least one product form, e.g. [\"BB\", \"BC\"]");
        }
        for (i, code) in spec.forms.iter().enumerate() {
            let k = format!("{}[{i}]", key("forms"));
            match ProductForm::parse(code) {
                Err(reason) => p.add(k, reason.to_string()),
                Ok(form) => {
                    if let Some(other) = form_owner.get(&form) {
                        p.add(
                            k,
                            format!("{form} is already packaged for the {other} channel; a form belongs to one channel"),
                        );
                    } else if !forms.insert(form.clone()) {
                        p.add(k, format!("{form} is listed twice"));
                    } else {
                        form_owner.insert(form, channel);
                    }
                }
            }
        }
        if spec.roles.is_empty() {
            p.add(key("roles"), "must list at least one required role");
        }
        let mut seen: BTreeSet<AssetRole> = BTreeSet::new();
        let mut lists: [Vec<AssetRole>; 2] = [Vec::new(), Vec::new()];
        for (li, (leaf, names)) in
            [("roles", &spec.roles), ("optional_roles", &spec.optional_roles)].into_iter().enumerate()
        {
            for (i, name) in names.iter().enumerate() {
                let k = format!("{}[{i}]", key(leaf));
                let role = match parse_role(name) {
                    Ok(r) => r,
                    Err(reason) => {
                        p.add(k, reason);
                        continue;
                    }
                };
                if !seen.insert(role) {
                    p.add(k, format!("role {role} is listed twice (roles and optional_roles together)"));
                    continue;
                }
                if role.onix_content_type().is_none() {
                    p.add(k, format!("role {role} has no ONIX ResourceContentType (list 158), so it cannot be described in a package"));
                    continue;
                }
                if roles_ok && !mapped_roles.contains(&role) {
                    p.add(k, format!("role {role} is not mapped from any asset-type value in [otmm.roles]"));
                    continue;
                }
                if resources_ok {
                    match resources.get(&role) {
                        None => {
                            p.add(
                                k,
                                format!(
                                    "role {role} has no [consonance.resources.{role}]; packages take linked files only"
                                ),
                            );
                            continue;
                        }
                        Some(r) => {
                            let missing: Vec<String> = forms
                                .iter()
                                .filter(|f| !r.product_forms.contains(f))
                                .map(|f| f.to_string())
                                .collect();
                            if !missing.is_empty() {
                                p.add(
                                    k,
                                    format!(
                                        "role {role} is packaged for {} but consonance.resources.{role}.product_forms \
                                         does not include it, so no file could ever be linked to those products",
                                        missing.join(", ")
                                    ),
                                );
                                continue;
                            }
                        }
                    }
                }
                lists[li].push(role);
            }
        }
        let [roles, optional_roles] = lists;
        channels.insert(channel, ChannelPackage { forms, roles, optional_roles });
    }
    let recipients = validate_recipients(p, &raw.recipients, &channels);
    let check_flag_field = raw.check_flag_field.as_ref().map(|f| {
        let v = f.trim();
        if v.is_empty() {
            p.add(
                path(&["packages", "check_flag_field"]),
                "must be an OTMM metadata field id, e.g. \"CUSTOM.FIELD.DELIVERY_CHECK\"",
            );
        }
        v.to_string()
    });
    PackagesConfig { link_base_url, release_link_role, channels, recipients, check_flag_field }
}

/// A section the recipient gives replaces the preset's.
fn replace<T: Clone>(given: &Option<T>, spec: &mut Option<T>) {
    if given.is_some() {
        spec.clone_from(given);
    }
}

fn validate_recipients(
    p: &mut Problems,
    raw: &BTreeMap<String, raw::Recipient>,
    channels: &BTreeMap<Channel, ChannelPackage>,
) -> Vec<Recipient> {
    let mut out = Vec::new();
    for (name, r) in raw {
        let key = |leaf: &str| path(&["packages", "recipients", name, leaf]);
        if name.trim().is_empty() || name.contains(['/', '#', ' ']) {
            p.add(
                path(&["packages", "recipients", name]),
                "a recipient name is a word (letters, digits, _ or -)",
            );
        }
        let channel = match r.channel.trim() {
            "print" => Channel::Print,
            "ebook" => Channel::Ebook,
            "audio" => Channel::Audio,
            other => {
                p.add(
                    key("channel"),
                    format!("{other:?} is not a package channel; expected print, ebook or audio"),
                );
                continue;
            }
        };
        let Some(package) = channels.get(&channel) else {
            p.add(
                key("channel"),
                format!("no [packages.{channel}] table, so no {channel} package is built for it"),
            );
            continue;
        };
        let mut forms = BTreeSet::new();
        for (i, code) in r.forms.iter().enumerate() {
            let k = format!("{}[{i}]", key("forms"));
            match ProductForm::parse(code) {
                Err(reason) => p.add(k, reason.to_string()),
                Ok(f) if !package.forms.contains(&f) => {
                    p.add(k, format!("{f} is not in packages.{channel}.forms"));
                }
                Ok(f) => {
                    forms.insert(f);
                }
            }
        }
        if r.forms.is_empty() {
            forms = package.forms.clone();
        }
        let mut spec = match &r.preset {
            None => DeliverySpec::default(),
            Some(name) => match DeliverySpec::preset(name.trim()) {
                Some(s) => s,
                None => {
                    p.add(
                        key("preset"),
                        format!("{name:?} is not a preset; expected one of {}", PRESETS.join(", ")),
                    );
                    DeliverySpec::default()
                }
            },
        };
        replace(&r.images, &mut spec.images);
        replace(&r.print_pdf, &mut spec.print_pdf);
        replace(&r.epub, &mut spec.epub);
        replace(&r.audio, &mut spec.audio);
        if spec == DeliverySpec::default() {
            p.add(
                path(&["packages", "recipients", name]),
                "checks nothing: name a preset or at least one of images, print_pdf, epub, audio",
            );
        }
        out.push(Recipient { name: name.clone(), channel, forms, preset: r.preset.clone(), spec });
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::config::{ConfigError, MappingConfig, ProductForm};
    use crate::rights::Channel;
    use crate::role::AssetRole;

    const EXAMPLE: &str = include_str!("../../../../config/mapping.example.toml");

    /// The example with its `[packages]` tables replaced by `packages`.
    fn with(packages: &str) -> Result<MappingConfig, ConfigError> {
        let base = &EXAMPLE[..EXAMPLE.find("[packages]").unwrap()];
        MappingConfig::from_toml_str(&format!("{base}{packages}"), "m.toml")
    }

    fn keys(e: ConfigError) -> Vec<(String, String)> {
        e.problems().iter().map(|p| (p.key.clone(), p.reason.clone())).collect()
    }

    #[test]
    fn example_packages_load() {
        let c = MappingConfig::from_toml_str(EXAMPLE, "example").unwrap();
        let p = c.packages.unwrap();
        let (ch, spec) = p.channel_for(&ProductForm::parse("AJ").unwrap()).unwrap();
        assert_eq!(ch, Channel::Audio);
        assert_eq!(spec.roles, vec![AssetRole::FrontCover, AssetRole::AudioSample]);
        assert!(p.channel_for(&ProductForm::parse("ZZ").unwrap()).is_none());
        assert_eq!(p.link_for("a/b"), "https://production.example.com/a/b");
        assert!(with("").unwrap().packages.is_none());
    }

    #[test]
    fn problems_name_key_and_reason() {
        let e = with(
            "[packages]\nlink_base_url = \"ftp://x\"\nrelease_link_role = \"B2B\"\n\
             [packages.print]\nforms = [\"BB\", \"bb\"]\nroles = [\"full_cover\", \"social_graphic\", \"cover\"]\n\
             [packages.ebook]\nforms = [\"BB\", \"DG\"]\nroles = [\"audio_sample\"]\noptional_roles = [\"audio_sample\"]\n",
        )
        .unwrap_err();
        let ps = keys(e.clone());
        let has = |k: &str, needle: &str| ps.iter().any(|(key, r)| key == k && r.contains(needle));
        assert!(has("packages.link_base_url", "http(s) URL"), "{ps:#?}");
        assert!(has("packages.release_link_role", "list 73"), "{ps:#?}");
        assert!(has("packages.print.forms[1]", "not an ONIX product form"), "{ps:#?}");
        assert!(has("packages.print.roles[1]", "no ONIX ResourceContentType"), "{ps:#?}");
        assert!(has("packages.print.roles[2]", "unknown role"), "{ps:#?}");
        assert!(has("packages.ebook.forms[0]", "already packaged for the print channel"), "{ps:#?}");
        assert!(has("packages.ebook.roles[0]", "does not include it"), "{ps:#?}");
        assert!(has("packages.ebook.optional_roles[0]", "listed twice"), "{ps:#?}");
        assert!(e.to_string().contains("m.toml"));
        let e = with("[packages]\nlink_base_url = \"https://x/\"\nbogus = 1\n").unwrap_err();
        assert!(e.to_string().contains("packages.bogus") || e.to_string().contains("bogus"), "{e}");
    }

    const BASE: &str = "[packages]\nlink_base_url = \"https://x/\"\n\
        [packages.print]\nforms = [\"BB\", \"BC\"]\nroles = [\"full_cover\"]\n\
        [packages.ebook]\nforms = [\"DG\"]\nroles = [\"front_cover\"]\n";

    #[test]
    fn recipients_load_with_presets_and_overrides() {
        let c = with(&format!(
            "{}\n\
             [packages.recipients.printer]\nchannel = \"print\"\nforms = [\"BB\"]\npreset = \"printer\"\n\
             [packages.recipients.vendor]\nchannel = \"ebook\"\npreset = \"ebook_retailer\"\n\
             [packages.recipients.vendor.images]\nmin_short_side_px = 2000\n",
            BASE.replace("[packages]\n", "[packages]\ncheck_flag_field = \"CUSTOM.FIELD.DELIVERY_CHECK\"\n")
        ));
        let p = c.unwrap().packages.unwrap();
        assert_eq!(p.check_flag_field.as_deref(), Some("CUSTOM.FIELD.DELIVERY_CHECK"));
        let bb = ProductForm::parse("BB").unwrap();
        let bc = ProductForm::parse("BC").unwrap();
        let names = |ch, f| p.recipients_for(ch, f).map(|r| r.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(Channel::Print, &bb), ["printer"]);
        assert!(names(Channel::Print, &bc).is_empty(), "forms narrow the recipient");
        let vendor = p.recipients.iter().find(|r| r.name == "vendor").unwrap();
        assert_eq!(vendor.forms.len(), 1, "no forms: all of the channel's");
        // The section replaces the preset's: the override is there, the rest is the default.
        let images = vendor.spec.images.as_ref().unwrap();
        assert_eq!(images.min_short_side_px, 2000);
        assert_eq!(images.file_stem, None);
        assert!(vendor.spec.epub.is_some(), "the preset's other sections stay");
        assert!(with(BASE).unwrap().packages.unwrap().recipients.is_empty(), "no recipients: none");
    }

    #[test]
    fn recipient_problems_name_the_field() {
        let e = with(&format!(
            "{BASE}[packages.recipients.a]\nchannel = \"audio\"\npreset = \"printer\"\n\
             [packages.recipients.b]\nchannel = \"print\"\nforms = [\"DG\"]\npreset = \"nope\"\n\
             [packages.recipients.c]\nchannel = \"ebook\"\n"
        ))
        .unwrap_err();
        let ps = keys(e);
        let has = |k: &str, needle: &str| ps.iter().any(|(key, r)| key == k && r.contains(needle));
        assert!(has("packages.recipients.a.channel", "no [packages.audio]"), "{ps:#?}");
        assert!(has("packages.recipients.b.forms[0]", "not in packages.print.forms"), "{ps:#?}");
        assert!(has("packages.recipients.b.preset", "not a preset"), "{ps:#?}");
        assert!(has("packages.recipients.c", "checks nothing"), "{ps:#?}");
        let e = with(&format!(
            "{BASE}[packages.recipients.a]\nchannel = \"print\"\n[packages.recipients.a.images]\nmin_short_side = 1\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("min_short_side"), "{e}");
    }
}
