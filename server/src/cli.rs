//! `hoist backup`: a copy of a store as a data directory to start on, taken from a running
//! server (through `POST /v1/admin/backup`) or from a directory no server holds.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use hoist_engine::{BackupInfo, Config, Engine, Error};

/// `hoist backup`: `--to DIR` from `--url` (a running server) or `--data DIR`.
#[derive(clap::Args, Debug, Clone)]
pub struct BackupArgs {
    /// Where the copy goes: a new data directory (it must not exist, or be empty). Start
    /// `hoist --data DIR` on it to restore.
    #[arg(long)]
    pub to: PathBuf,
    /// A running server to copy through `POST /v1/admin/backup`.
    #[arg(long, conflicts_with = "data")]
    pub url: Option<String>,
    /// A data directory. If a running server holds it, the copy goes through that server
    /// (its address from `<data>/server.url`); else the directory is opened directly.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// An admin token for the server (default: `<data>/admin.token` when `--data` is given).
    #[arg(long, env = "HOIST_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Whether the copy is created compressed (zstd in sled's log; see `hoist --help`),
    /// whatever the original was: the way to change a store's setting.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub compression: bool,
}

/// The file a server writes in its data directory with the address it listens on.
pub(crate) const URL_FILE: &str = "server.url";

pub(crate) fn backup(args: &BackupArgs) -> anyhow::Result<()> {
    let info = match (&args.url, &args.data) {
        (Some(url), _) => through_server(url, token(args)?.as_deref(), &args.to, args.compression)?,
        (None, Some(data)) => from_directory(data, args)?,
        (None, None) => anyhow::bail!("give --url of a running server or --data of a directory"),
    };
    println!(
        "backup at change {}: {} rows, {} bytes, in {} (start `hoist --data {}` on it)",
        info.change,
        info.records,
        info.bytes,
        args.to.display(),
        args.to.display()
    );
    Ok(())
}

/// `--token`, else the admin token file of `--data`.
fn token(args: &BackupArgs) -> anyhow::Result<Option<String>> {
    if let Some(t) = &args.token {
        return Ok(Some(t.clone()));
    }
    let Some(data) = &args.data else {
        return Ok(None);
    };
    let path = data.join("admin.token");
    match std::fs::read_to_string(&path) {
        Ok(t) => Ok(Some(t.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn through_server(
    url: &str,
    token: Option<&str>,
    to: &Path,
    compress: bool,
) -> anyhow::Result<BackupInfo> {
    let token = token.context("an admin token is needed: --token or HOIST_TOKEN")?;
    let url = format!("{}/v1/admin/backup", url.trim_end_matches('/'));
    let res = match ureq::post(&url)
        .set("Authorization", &format!("Bearer {token}"))
        .call()
    {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            let body = r.into_string().unwrap_or_default();
            anyhow::bail!("{url}: {code} {body}");
        }
        Err(e) => return Err(e).with_context(|| format!("POST {url}")),
    };
    let mut reader = res.into_reader();
    Engine::restore_with_compression(&mut reader, to, compress)
        .with_context(|| format!("restoring into {}", to.display()))
}

fn from_directory(data: &Path, args: &BackupArgs) -> anyhow::Result<BackupInfo> {
    if !data.join("db").is_dir() {
        anyhow::bail!(
            "{} is not a Hoist data directory (no db/ in it)",
            data.display()
        );
    }
    let config = Config::default().with_timer_thread(false);
    let engine = match Engine::open(data, config) {
        Ok(e) => e,
        Err(Error::Locked(_)) => {
            // A running server holds it: go through that server.
            let path = data.join(URL_FILE);
            let url = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "a server holds {} but {} is unreadable",
                    data.display(),
                    path.display()
                )
            })?;
            return through_server(
                url.trim(),
                token(args)?.as_deref(),
                &args.to,
                args.compression,
            );
        }
        Err(e) => return Err(e).with_context(|| format!("opening {}", data.display())),
    };
    let (mut reader, mut writer) = std::io::pipe().context("a pipe")?;
    std::thread::scope(|s| {
        let copy = s.spawn(move || {
            let r = engine.backup(&mut writer);
            drop(writer);
            r
        });
        let restored = Engine::restore_with_compression(
            &mut reader as &mut dyn Read,
            &args.to,
            args.compression,
        );
        // A restore that stopped early (a non-empty `--to`) must not leave the copy
        // blocked on a full pipe: closing our end fails its writes.
        drop(reader);
        let copied = copy
            .join()
            .map_err(|_| anyhow::anyhow!("the backup thread panicked"))?;
        // The restore's own error first: the copy's (a closed pipe) follows from it.
        let restored = restored.with_context(|| format!("restoring into {}", args.to.display()))?;
        copied.context("reading the store")?;
        Ok(restored)
    })
}
