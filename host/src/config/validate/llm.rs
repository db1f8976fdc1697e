//! The checks of each `[[llm]]`: its counts and caps, its token budgets
//! against its inputs, and keys that belong to the other provider.

use super::Validator;
use crate::config::{ConfigError, LlmConfig, Provider};

impl Validator<'_> {
    pub(super) fn llm(&self, llm: &LlmConfig) -> Result<(), ConfigError> {
        let key = |k: &str| format!("llm[{}].{k}", llm.name.get_ref());
        self.llm_provider(llm)?;
        if llm.api_key_env.is_some() && llm.api_key_file.is_some() {
            return self.err(
                llm.name.span(),
                key("api_key_file"),
                "set api_key_env or api_key_file, not both",
            );
        }
        let counts = [
            ("batch_size", llm.batch_size.as_ref()),
            ("concurrency", llm.concurrency.as_ref()),
            ("dimensions", llm.dimensions.as_ref()),
            ("max_input_tokens", llm.max_input_tokens.as_ref()),
            ("threads", llm.threads.as_ref()),
        ];
        for (name, v) in counts {
            if let Some(v) = v.filter(|v| *v.get_ref() == 0) {
                return self.err(v.span(), key(name), "must be at least 1");
            }
        }
        // Threads and permits are real resources: a typo must not ask for millions.
        let caps = [
            ("threads", llm.threads.as_ref(), 1024),
            ("concurrency", llm.concurrency.as_ref(), 10_000),
        ];
        for (name, v, cap) in caps {
            if let Some(v) = v.filter(|v| *v.get_ref() > cap) {
                return self.err(v.span(), key(name), format!("must be at most {cap}"));
            }
        }
        if let Some(r) = llm
            .requests_per_minute
            .as_ref()
            .filter(|r| *r.get_ref() == 0)
        {
            return self.err(r.span(), key("requests_per_minute"), "must be at least 1");
        }
        // A budget below one full input could never send that input.
        let max_input = llm.max_input_tokens().unwrap_or(1);
        let budgets = [
            (
                "max_batch_tokens",
                llm.max_batch_tokens
                    .as_ref()
                    .map(|b| (b.span(), *b.get_ref())),
            ),
            (
                "tokens_per_minute",
                llm.tokens_per_minute
                    .as_ref()
                    .map(|b| (b.span(), *b.get_ref() as usize)),
            ),
        ];
        for (name, budget) in budgets {
            if let Some((span, b)) = budget.filter(|(_, b)| *b < max_input) {
                let m = format!("must be at least max_input_tokens ({max_input}), got {b}");
                return self.err(span, key(name), m);
            }
        }
        Ok(())
    }

    /// Keys that belong to the other provider are mistakes, not no-ops.
    fn llm_provider(&self, llm: &LlmConfig) -> Result<(), ConfigError> {
        let key = |k: &str| format!("llm[{}].{k}", llm.name.get_ref());
        let (foreign, owner): (&[(&str, bool)], &str) = match llm.provider {
            Provider::OpenAi => (
                &[
                    ("model_dir", llm.model_dir.is_some()),
                    ("threads", llm.threads.is_some()),
                ],
                "local",
            ),
            Provider::Local => (
                &[
                    ("base_url", llm.base_url.is_some()),
                    ("api_key_env", llm.api_key_env.is_some()),
                    ("api_key_file", llm.api_key_file.is_some()),
                    ("tokenizer", llm.tokenizer.is_some()),
                ],
                "openai",
            ),
        };
        if let Some((k, _)) = foreign.iter().find(|(_, set)| *set) {
            let m = format!("is for provider = \"{owner}\" only");
            return self.err(llm.name.span(), key(k), m);
        }
        match (llm.provider, &llm.base_url) {
            (Provider::OpenAi, None) => self.err(
                llm.name.span(),
                key("base_url"),
                "is required for provider \"openai\"",
            ),
            (Provider::OpenAi, Some(url)) if reqwest::Url::parse(url.get_ref()).is_err() => {
                let m = format!("{:?} is not a URL", url.get_ref());
                self.err(url.span(), key("base_url"), m)
            }
            _ => Ok(()),
        }
    }
}
