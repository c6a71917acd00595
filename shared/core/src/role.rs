//! What an asset is for. Each role carries the ONIX 3.0 codes it is exported with, where
//! ONIX has one (code list 158 ResourceContentType, list 159 ResourceMode).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetRole {
    FrontCover,
    BackCover,
    Spine,
    /// Full cover / jacket spread (front, spine and back in one image).
    FullCover,
    AuthorPhoto,
    InteriorIllustration,
    CampaignBanner,
    SocialGraphic,
    PromoVideo,
    AudioSample,
}

/// ONIX 3.0 list 159 ResourceMode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResourceMode {
    Audio,
    Image,
    Video,
}

impl ResourceMode {
    pub fn onix_code(self) -> &'static str {
        match self {
            ResourceMode::Audio => "02",
            ResourceMode::Image => "03",
            ResourceMode::Video => "05",
        }
    }
}

impl AssetRole {
    pub const ALL: [AssetRole; 10] = [
        AssetRole::FrontCover,
        AssetRole::BackCover,
        AssetRole::Spine,
        AssetRole::FullCover,
        AssetRole::AuthorPhoto,
        AssetRole::InteriorIllustration,
        AssetRole::CampaignBanner,
        AssetRole::SocialGraphic,
        AssetRole::PromoVideo,
        AssetRole::AudioSample,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AssetRole::FrontCover => "front_cover",
            AssetRole::BackCover => "back_cover",
            AssetRole::Spine => "spine",
            AssetRole::FullCover => "full_cover",
            AssetRole::AuthorPhoto => "author_photo",
            AssetRole::InteriorIllustration => "interior_illustration",
            AssetRole::CampaignBanner => "campaign_banner",
            AssetRole::SocialGraphic => "social_graphic",
            AssetRole::PromoVideo => "promo_video",
            AssetRole::AudioSample => "audio_sample",
        }
    }

    /// ONIX 3.0 list 158 ResourceContentType, where one fits.
    pub fn onix_content_type(self) -> Option<&'static str> {
        match self {
            AssetRole::FrontCover => Some("01"),
            AssetRole::BackCover => Some("02"),
            AssetRole::AuthorPhoto => Some("04"),
            AssetRole::FullCover => Some("29"),
            AssetRole::Spine => Some("56"),
            AssetRole::InteriorIllustration => Some("07"), // product image / artwork
            AssetRole::AudioSample => Some("15"),          // sample content
            AssetRole::PromoVideo => Some("26"),           // trailer
            AssetRole::CampaignBanner => Some("35"),       // online advertisement panel
            // Social graphics have no supply-chain code; they stay in launch materials only.
            AssetRole::SocialGraphic => None,
        }
    }

    pub fn resource_mode(self) -> ResourceMode {
        match self {
            AssetRole::PromoVideo => ResourceMode::Video,
            AssetRole::AudioSample => ResourceMode::Audio,
            _ => ResourceMode::Image,
        }
    }

    /// Campaign roles go to the title's launch materials (flow 2), never replacing a cover.
    pub fn is_campaign(self) -> bool {
        matches!(self, AssetRole::CampaignBanner | AssetRole::SocialGraphic | AssetRole::PromoVideo)
    }

    /// Single-slot roles hold one current asset per title: a newer approval replaces the old
    /// one. Multi-slot roles (campaign material, interior illustrations) accumulate.
    pub fn is_single_slot(self) -> bool {
        !(self.is_campaign() || self == AssetRole::InteriorIllustration)
    }
}

impl fmt::Display for AssetRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown asset role {0:?}; expected one of front_cover, back_cover, spine, full_cover, author_photo, interior_illustration, campaign_banner, social_graphic, promo_video, audio_sample"
)]
pub struct UnknownRole(pub String);

impl FromStr for AssetRole {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssetRole::ALL.into_iter().find(|r| r.as_str() == s.trim()).ok_or_else(|| UnknownRole(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for role in AssetRole::ALL {
            assert_eq!(role.as_str().parse::<AssetRole>().unwrap(), role);
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{}\"", role.as_str()));
        }
        assert!("cover".parse::<AssetRole>().is_err());
    }

    #[test]
    fn onix_codes_follow_list_158() {
        assert_eq!(AssetRole::FrontCover.onix_content_type(), Some("01"));
        assert_eq!(AssetRole::Spine.onix_content_type(), Some("56"));
        assert_eq!(AssetRole::FullCover.onix_content_type(), Some("29"));
        assert_eq!(AssetRole::AuthorPhoto.onix_content_type(), Some("04"));
        assert_eq!(AssetRole::PromoVideo.resource_mode().onix_code(), "05");
        assert_eq!(AssetRole::AudioSample.resource_mode().onix_code(), "02");
    }

    #[test]
    fn campaign_roles_never_replace_covers() {
        assert!(AssetRole::SocialGraphic.is_campaign() && !AssetRole::SocialGraphic.is_single_slot());
        assert!(AssetRole::FrontCover.is_single_slot() && !AssetRole::FrontCover.is_campaign());
    }
}
