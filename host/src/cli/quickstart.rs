//! `quickstart`: `wafer quickstart` — writes the bundled example (the config
//! and reviews in `examples/quickstart/`, embedded in the binary) to a
//! directory, pulls the local embedding model if the cache lacks it,
//! publishes every view, starts the server and shows a real lookup with the
//! `curl` that makes it. No API key and no server needed.

use super::shutdown_signal;
use crate::config::{Config, Provider};
use crate::ingest::PublishRequest;
use crate::registry::View;
use crate::runtime::Wafer;
use crate::store::WriteMode;
use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const CONFIG: &str = include_str!("../../../examples/quickstart/wafer.toml");
const REVIEWS: &str = include_str!("../../../examples/quickstart/reviews.jsonl");

pub async fn run(dir: &Path, listen: SocketAddr, once: bool) -> anyhow::Result<ExitCode> {
    let (config, reviews) = write_example(dir)?;
    pull_local_models(&config).await?;
    let wafer = Wafer::open(&config)?;
    let failed = publish_all(&wafer, &reviews).await?;
    serve_and_show(wafer, listen, once).await?;
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// The bundled config and reviews, written into `dir`: their paths.
fn write_example(dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let config = dir.join("wafer.toml");
    let reviews = dir.join("reviews.jsonl");
    std::fs::write(&config, CONFIG).with_context(|| format!("write {}", config.display()))?;
    std::fs::write(&reviews, REVIEWS).with_context(|| format!("write {}", reviews.display()))?;
    println!("wafer quickstart in {}\n", dir.display());
    Ok((config, reviews))
}

/// Every view published from the reviews, each summary printed: how many
/// rows failed in all.
async fn publish_all(wafer: &Wafer, reviews: &Path) -> anyhow::Result<u64> {
    let registry = wafer.registry();
    let mut failed = 0;
    for view in registry.views() {
        let llm_missing = api_key_missing(wafer, view);
        if let Some(reason) = &llm_missing {
            println!(
                "{}: {reason}; publishing the pre-extracted vectors (review_text_embedding) instead.",
                view.name
            );
            println!(
                "  Set the key (or point [[llm]].base_url at any OpenAI-compatible server) to embed for real."
            );
        }
        let req = PublishRequest {
            view: view.name.clone(),
            input: reviews.to_path_buf(),
            format: None,
            partition: None,
            mode: WriteMode::Merge,
            no_transform: llm_missing.is_some(),
        };
        let summary = wafer.publish(req, |_| {}).await?;
        failed += summary.failed();
        println!("{summary}\n");
    }
    Ok(failed)
}

/// Why an API endpoint `view` embeds with cannot be called (its key is
/// not set). Without it, the quickstart publishes the pre-extracted
/// vectors, as the seed's `transform: False` does. A local model that does
/// not load is an error instead: it is what the quickstart shows.
fn api_key_missing(wafer: &Wafer, view: &View) -> Option<String> {
    let registry = wafer.registry();
    (view.fields.iter())
        .filter_map(|f| f.transform.as_ref()?.llm.as_ref())
        .filter(|l| (registry.llm(l)).is_some_and(|c| c.provider == Provider::OpenAi))
        .find_map(|l| wafer.engine().embed_ready(l).err())
}

/// Serve, show a lookup and a push with the `curl`s that make them, then
/// stop (`once`) or serve until Ctrl-C or SIGTERM.
async fn serve_and_show(wafer: Wafer, listen: SocketAddr, once: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (try --listen 127.0.0.1:0)"))?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let shutdown = async move {
            tokio::select! { _ = stopped => {}, _ = shutdown_signal() => {} }
        };
        wafer.serve(listener, shutdown).await
    });
    show_lookup(addr).await?;
    show_push(addr).await?;
    if once {
        let _ = stop.send(());
    } else {
        println!(
            "serving on http://{addr} — Ctrl-C to stop; push, publish and look up while it runs"
        );
    }
    server.await??;
    Ok(())
}

/// Fetch each local model the config uses from the default cache, once.
async fn pull_local_models(config: &Path) -> anyhow::Result<()> {
    let config = Config::load(config)?;
    let cache = crate::embed::local::files::cache_dir();
    let local = config.llms.iter().filter(|l| l.provider == Provider::Local);
    for llm in local.filter(|l| l.model_dir.is_none()) {
        let known = crate::embed::local::files::known(&llm.model)?;
        if crate::embed::local::files::verify(&cache.join(known.name), known).is_ok() {
            continue;
        }
        println!("pulling {} into {} (once)", known.name, cache.display());
        let dir = crate::embed::local::files::pull(known.name, &cache, None)
            .await
            .with_context(|| format!("the quickstart embeds with {}", known.name))?;
        println!("  {}\n", dir.display());
    }
    Ok(())
}

async fn show_lookup(addr: SocketAddr) -> anyhow::Result<()> {
    let body = r#"{"features": ["item_stats_v1:price", "item_stats_v1:price_bucket", "item_fea_embedding_debug_v1:review_text"], "entities": {"item_id": [901, 902, 99999]}}"#;
    let url = format!("http://{addr}/get-online-features");
    println!("try it:\n  curl -s {url} -d '{body}'\n");
    let answer = post(&url, body).await?;
    println!("answer:\n{}\n", abbreviate_vectors(&answer));
    Ok(())
}

/// A push while it serves: Feast's `/push`, embedded by the local model on the way in.
async fn show_push(addr: SocketAddr) -> anyhow::Result<()> {
    let body = r#"{"push_source_name": "item_reviews_push", "df": {"item_id": [1001], "review_text": ["Fresh coffee beans, rich aroma, fast delivery."], "ds": ["20251130"]}}"#;
    let url = format!("http://{addr}/push");
    println!("push a review while it serves (Feast's /push; embedded on the way in):");
    println!("  curl -s {url} -d '{body}'\n");
    println!("answer:\n{}\n", post(&url, body).await?);
    Ok(())
}

/// What the server answers `body` at `url`, as the `curl` shown would get it.
async fn post(url: &str, body: &'static str) -> anyhow::Result<serde_json::Value> {
    let resp = reqwest::Client::new().post(url).body(body).send().await?;
    Ok(resp.error_for_status()?.json().await?)
}

/// The answer with one line per column and vectors cut to their first
/// values, so it fits a terminal.
fn abbreviate_vectors(answer: &serde_json::Value) -> String {
    let mut out = format!("{{\"metadata\": {},\n \"results\": [\n", answer["metadata"]);
    let columns = answer["results"].as_array().cloned().unwrap_or_default();
    for (i, mut col) in columns.into_iter().enumerate() {
        for v in col["values"].as_array_mut().into_iter().flatten() {
            if let Some(a) = v.as_array_mut().filter(|a| a.len() > 4) {
                let n = a.len();
                a.truncate(3);
                a.push(format!("...{n} values").into());
            }
        }
        let sep = if i + 1 < answer["results"].as_array().map_or(0, Vec::len) {
            ","
        } else {
            ""
        };
        out += &format!("  {col}{sep}\n");
    }
    out + " ]}"
}
