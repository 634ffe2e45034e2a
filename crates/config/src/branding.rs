//! `[branding]`: how the Connect page presents the app that asks the end user to connect
//! accounts: its name, its logo (a file this server serves at `/connect/logo`, so the
//! page's CSP keeps `img-src 'self'`), and its accent colour (buttons, focus ring).

use std::path::Path;

use serde::Deserialize;

use crate::{ConfigError, Source};

/// The largest logo file accepted.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

/// `[branding]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBranding {
    app_name: Option<String>,
    logo: Option<String>,
    accent_color: Option<String>,
}

/// The app's logo, read when the configuration is loaded.
#[derive(Clone, PartialEq, Eq)]
pub struct Logo {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Its media type, from its first bytes: `image/png`, `image/jpeg`, `image/gif`,
    /// `image/webp` or `image/svg+xml`.
    pub content_type: &'static str,
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Logo({}, {} bytes)", self.content_type, self.bytes.len())
    }
}

/// An sRGB colour `#RRGGBB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Parses `#RRGGBB` (hex digits in either case).
    pub fn parse(s: &str) -> Option<Rgb> {
        let hex = s.strip_prefix('#')?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let c = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        Some(Rgb(c(0)?, c(2)?, c(4)?))
    }

    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// WCAG 2 relative luminance (0 black … 1 white).
    pub fn luminance(self) -> f64 {
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(self.0) + 0.7152 * lin(self.1) + 0.0722 * lin(self.2)
    }

    /// WCAG 2 contrast ratio between two colours (1 … 21).
    pub fn contrast(self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        let (hi, lo) = if a > b { (a, b) } else { (b, a) };
        (hi + 0.05) / (lo + 0.05)
    }

    /// Black or white, whichever contrasts more with this colour as a background. The
    /// better of the two is always at least 4.58:1, above WCAG AA's 4.5:1 for text.
    pub fn text_on(self) -> Rgb {
        let (black, white) = (Rgb(0, 0, 0), Rgb(255, 255, 255));
        if self.contrast(black) >= self.contrast(white) {
            black
        } else {
            white
        }
    }
}

/// The default accent: a blue with white text at 6.2:1.
pub const DEFAULT_ACCENT: Rgb = Rgb(0x24, 0x57, 0xc5);

/// How the Connect page presents the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    /// The app's name ("Acme CRM"); `None` says "the app".
    pub app_name: Option<String>,
    /// The app's logo, served at `/connect/logo`.
    pub logo: Option<Logo>,
    /// The accent colour of buttons and the focus ring.
    pub accent_color: Rgb,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            app_name: None,
            logo: None,
            accent_color: DEFAULT_ACCENT,
        }
    }
}

/// The media type of an image file, from its first bytes.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(1024)]).to_ascii_lowercase();
        let head = head.trim_start_matches('\u{feff}').trim_start();
        (head.starts_with("<svg") || (head.starts_with("<?xml") && head.contains("<svg")))
            .then_some("image/svg+xml")
    }
}

/// Validates `[branding]`. `file` is the config file (relative logo paths are relative
/// to its folder).
pub(crate) fn branding(
    raw: Option<RawBranding>,
    src: &Source,
    file: Option<&Path>,
) -> Result<Branding, ConfigError> {
    let Some(raw) = raw else {
        return Ok(Branding::default());
    };
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: format!("branding.{key}"),
        origin: src.to_string(),
        message,
    };
    let app_name = match raw.app_name {
        None => None,
        Some(n) => {
            let t = n.trim();
            if t.is_empty() || t.chars().count() > 80 || t.chars().any(char::is_control) {
                return Err(invalid(
                    "app_name",
                    "give the app's name as users know it: 1 to 80 characters, no control characters".into(),
                ));
            }
            Some(t.to_owned())
        }
    };
    let accent_color = match raw.accent_color {
        None => DEFAULT_ACCENT,
        Some(c) => Rgb::parse(c.trim()).ok_or_else(|| {
            invalid(
                "accent_color",
                format!("{c:?} is not a colour as #RRGGBB (six hex digits, e.g. \"#2457c5\")"),
            )
        })?,
    };
    let logo = match raw.logo {
        None => None,
        Some(l) => {
            let Some(path) = l.strip_prefix("file:").filter(|p| !p.is_empty()) else {
                return Err(invalid(
                    "logo",
                    format!(
                        "{l:?}: give a file as file:PATH (PNG, JPEG, GIF, WebP or SVG, at most {} KiB); Switchboard serves it itself, so the Connect page loads nothing from elsewhere",
                        MAX_LOGO_BYTES / 1024
                    ),
                ));
            };
            let p = Path::new(path);
            let p = match file.and_then(Path::parent) {
                Some(dir) if p.is_relative() => dir.join(p),
                _ => p.to_path_buf(),
            };
            let bytes = std::fs::read(&p).map_err(|e| {
                invalid(
                    "logo",
                    format!(
                        "cannot read {}: {e}; check the path and that this user may read it",
                        p.display()
                    ),
                )
            })?;
            if bytes.len() > MAX_LOGO_BYTES {
                return Err(invalid(
                    "logo",
                    format!(
                        "{} is {} bytes; use a file of at most {} KiB",
                        p.display(),
                        bytes.len(),
                        MAX_LOGO_BYTES / 1024
                    ),
                ));
            }
            let content_type = sniff(&bytes).ok_or_else(|| {
                invalid(
                    "logo",
                    format!("{} is not a PNG, JPEG, GIF, WebP or SVG image", p.display()),
                )
            })?;
            Some(Logo {
                bytes,
                content_type,
            })
        }
    };
    Ok(Branding {
        app_name,
        logo,
        accent_color,
    })
}
