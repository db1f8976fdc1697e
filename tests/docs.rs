//! The docs cannot drift from the code: the CLI reference is generated from
//! the command line's own help, the configuration reference parses, and the
//! README's tour runs against a real quickstart server.

use crate::util::*;
use clap::CommandFactory;
use std::io::BufRead;
use std::process::Stdio;

/// `docs/cli.md`: every command's `--help`, in order. `WAFER_BLESS=1` rewrites it.
#[test]
fn the_cli_reference_is_the_cli_help() {
    let mut md = String::from(
        "# Command line\n\nGenerated from `wafer --help` (`WAFER_BLESS=1 cargo test docs` rewrites it; a test checks it).\n",
    );
    let mut cmd = wafer::cli::Cli::command();
    cmd.build();
    help(&mut md, &mut cmd, "wafer");
    let path = repo().join("docs/cli.md");
    if std::env::var_os("WAFER_BLESS").is_some() {
        std::fs::write(&path, &md).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == md,
        "docs/cli.md differs from the CLI's help: run `WAFER_BLESS=1 cargo test docs`"
    );
}

fn help(md: &mut String, cmd: &mut clap::Command, path: &str) {
    let text = cmd.render_long_help().to_string();
    md.push_str(&format!(
        "\n## `{path}`\n\n```text\n{}\n```\n",
        text.trim_end()
    ));
    for sub in cmd.get_subcommands_mut() {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("{path} {}", sub.get_name());
        help(md, sub, &name);
    }
}

/// The reference block of `docs/configuration.md` is a valid config.
#[test]
fn the_configuration_reference_parses() {
    let doc = std::fs::read_to_string(repo().join("docs/configuration.md")).unwrap();
    let blocks: Vec<&str> = doc
        .split("```toml\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert!(
        blocks.len() >= 2,
        "the reference and the push source blocks"
    );
    let src = blocks.concat();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &src);
    let config = wafer::config::Config::load(&cfg).unwrap();
    assert!(!config.views.is_empty() && !config.push_sources.is_empty());
    assert!(!config.feature_services.is_empty());
}

/// The README's tour, command by command, against `wafer quickstart`
/// serving in the background: its lookups and pushes answer 200, its
/// commands exit 0 through the running server.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "slow tier: the real local model"]
async fn the_readme_tour_runs() {
    minilm_dir(); // in the test model cache, where the quickstart finds it
    let dir = tempfile::tempdir().unwrap();
    let qs = dir.path().join(".wafer-quickstart");
    let mut child = wafer_command(dir.path())
        .args(["quickstart", "--listen", "127.0.0.1:0", "--dir"])
        .arg(&qs)
        .env_remove("DASHSCOPE_API_KEY")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // The quickstart publishes (embedding 300 reviews) before it serves.
    let url = tokio::task::spawn_blocking(move || {
        let mut lines = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok);
        let url = lines.find_map(|l| {
            Some(
                l.split("serving on ")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .to_string(),
            )
        });
        std::thread::spawn(move || lines.for_each(drop));
        url.expect("the quickstart says where it serves")
    })
    .await
    .unwrap();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let commands = sh_commands(&readme);
    let mut ran = 0;
    for command in &commands {
        if let Some(rest) = command.strip_prefix("curl -s http://127.0.0.1:6566") {
            let (path, body) = rest.split_once(" -d '").expect("curl PATH -d 'BODY'");
            let body = body.strip_suffix('\'').unwrap();
            let resp = reqwest::Client::new()
                .post(format!("{url}{}", path.trim()))
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = resp.status();
            assert_eq!(status, 200, "{command}: {}", resp.text().await.unwrap());
            ran += 1;
        } else if let Some(args) = command.strip_prefix("cargo run --release -- ") {
            let args: Vec<String> = args
                .split('#')
                .next()
                .unwrap()
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if args[0] == "quickstart" {
                continue; // this is it
            }
            let cwd = dir.path().to_path_buf();
            let out = tokio::task::spawn_blocking(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                wafer_cli(&cwd, &args)
            })
            .await
            .unwrap();
            assert!(out.status.success(), "{command}: {}", text(&out));
            ran += 1;
        }
    }
    assert!(ran >= 6, "{ran} commands of {commands:?}");
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// The commands of the `sh` blocks, continuation lines joined.
fn sh_commands(md: &str) -> Vec<String> {
    let mut out = Vec::new();
    for block in md.split("```sh\n").skip(1) {
        let block = block.split("```").next().unwrap();
        let joined = block.replace("\\\n", " ");
        out.extend(
            joined
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .filter(|l| !l.is_empty()),
        );
    }
    out
}
