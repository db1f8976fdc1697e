//! `quickstart`: `wafer quickstart` — writes the bundled example (the config
//! and reviews in `examples/quickstart/`, embedded in the binary) to a
//! directory, publishes every view, starts the server and shows a real
//! lookup with the `curl` that makes it. Offline, no API key needed.

use crate::cli::{App, shutdown_signal};
use crate::ingest::PublishRequest;
use crate::store::WriteMode;
use anyhow::Context;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

const CONFIG: &str = include_str!("../../examples/quickstart/wafer.toml");
const REVIEWS: &str = include_str!("../../examples/quickstart/reviews.jsonl");

pub async fn run(dir: &Path, listen: SocketAddr, once: bool) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let config = dir.join("wafer.toml");
    let reviews = dir.join("reviews.jsonl");
    std::fs::write(&config, CONFIG).with_context(|| format!("write {}", config.display()))?;
    std::fs::write(&reviews, REVIEWS).with_context(|| format!("write {}", reviews.display()))?;
    println!("wafer quickstart in {}\n", dir.display());

    let app = App::open(&config)?;
    let mut failed = 0;
    for view in app.registry.views() {
        // The LLM view needs its endpoint's key; without it, publish the
        // pre-extracted vectors, as the seed's `transform: False` does.
        let llm_missing = view
            .fields
            .iter()
            .filter_map(|f| f.transform.as_ref()?.llm.as_ref())
            .find_map(|l| app.engine.embed_ready(l).err());
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
            input: reviews.clone(),
            format: None,
            mode: WriteMode::Merge,
            no_transform: llm_missing.is_some(),
        };
        let summary = app.publish(req).await?;
        failed += summary.failed();
        println!("{summary}\n");
    }

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (try --listen 127.0.0.1:0)"))?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(crate::serve::run(listener, app.state(), async move {
        if once {
            std::future::pending::<()>().await
        } else {
            shutdown_signal().await
        }
    }));
    show_lookup(addr).await?;
    if once {
        server.abort();
    } else {
        println!("serving on http://{addr} — Ctrl-C to stop");
        server.await??;
    }
    Ok(if failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

async fn show_lookup(addr: SocketAddr) -> anyhow::Result<()> {
    let body = r#"{"features": ["item_stats_v1:price", "item_stats_v1:price_bucket", "item_fea_embedding_debug_v1:review_text"], "entities": {"item_id": [901, 902, 99999]}}"#;
    let url = format!("http://{addr}/get-online-features");
    println!("try it:\n  curl -s {url} -d '{body}'\n");
    let answer: serde_json::Value = reqwest::Client::new()
        .post(&url)
        .body(body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    println!("answer:\n{}\n", abbreviate_vectors(&answer));
    Ok(())
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
