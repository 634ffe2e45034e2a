//! Master-key resolution for `serve` and the local verbs: the configured keys, or the
//! development key file.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;
use vault::{ExposeSecret, Keyring, MasterKey};

use crate::exit::CliError;

/// How the key ring was obtained.
#[derive(Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `master_key` from the configuration.
    Configured,
    /// The development key file, which existed.
    DevFile,
    /// The development key file, created just now.
    DevFileCreated,
}

/// What to do when no master key is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// `serve --dev`: create the dev key file if it does not exist.
    CreateDevFile,
    /// Local admin verbs: use the dev key file only if it exists.
    UseDevFile,
    /// `serve` without `--dev`: a configured key is required.
    Require,
}

/// The configured keys: `master_key` if set, and `old_master_keys`.
pub fn configured_keys(
    cfg: &config::Config,
) -> anyhow::Result<(Option<MasterKey>, Vec<MasterKey>)> {
    let old = cfg
        .old_master_keys
        .iter()
        .map(|k| MasterKey::from_base64(k.expose_secret()))
        .collect::<Result<Vec<_>, _>>()
        .context("old_master_keys")?;
    let primary = match &cfg.master_key {
        Some(k) => Some(MasterKey::from_base64(k.expose_secret()).context("master_key")?),
        None => None,
    };
    Ok((primary, old))
}

/// Builds the key ring from the configuration.
pub fn keyring(cfg: &config::Config, missing: Missing) -> anyhow::Result<(Keyring, KeySource)> {
    let (primary, old) = configured_keys(cfg)?;
    if let Some(primary) = primary {
        return Ok((Keyring::new(primary, old), KeySource::Configured));
    }
    let path = cfg.dev_key_file.as_path();
    if missing == Missing::Require {
        return Err(no_key(
            "For local development run `switchboard serve --dev`, which creates a key file.",
        ));
    }
    if path.exists() {
        let key = read_dev_key(path)?;
        return Ok((Keyring::new(key, old), KeySource::DevFile));
    }
    match missing {
        Missing::CreateDevFile => {
            let key = create_dev_key(path)?;
            Ok((Keyring::new(key, old), KeySource::DevFileCreated))
        }
        Missing::UseDevFile | Missing::Require => Err(no_key(
            "(`serve --dev` creates a development key file instead.)",
        )),
    }
}

/// The error of a missing master key, ending with `then`.
fn no_key(then: &str) -> anyhow::Error {
    CliError::new(
        "invalid_config",
        format!(
            "no master key: set SWITCHBOARD_MASTER_KEY (or master_key in switchboard.toml) to a base64 32-byte key; \
             `switchboard keys generate` prints one. {then}"
        ),
    )
    .into()
}

fn read_dev_key(path: &Path) -> anyhow::Result<MasterKey> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("dev key file {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CliError::new(
            "invalid_config",
            format!(
                "dev key file {} is readable by other users (mode {mode:o}); run `chmod 600 {}`",
                path.display(),
                path.display()
            ),
        )
        .into());
    }
    read_dev_key_file(path)
}

/// The development key file's key, whatever the file's mode (`security audit` reports a
/// loose mode as a finding rather than refusing).
pub fn read_dev_key_file(path: &Path) -> anyhow::Result<MasterKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read dev key file {}", path.display()))?;
    MasterKey::from_base64(text.trim()).with_context(|| format!("dev key file {}", path.display()))
}

fn create_dev_key(path: &Path) -> anyhow::Result<MasterKey> {
    let key = MasterKey::generate()?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create dev key file {}", path.display()))?;
    writeln!(f, "{}", key.to_base64().expose_secret())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write dev key file {}", path.display()))?;
    Ok(key)
}
