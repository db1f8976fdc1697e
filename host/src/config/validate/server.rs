//! The checks of `[server]` (its limits, `[server.auth]`) and of each
//! `[[feature_service]]`, each naming the file, the line and the key.

use super::Validator;
use crate::config::{AuthConfig, Config, ConfigError, FeatureServiceConfig, ServerConfig};

impl Validator<'_> {
    pub(super) fn server(&self, s: &ServerConfig) -> Result<(), ConfigError> {
        let counts = [
            (&s.max_rows_per_write, "max_rows_per_write"),
            (&s.max_body_mb, "max_body_mb"),
            (&s.write_queue_rows, "write_queue_rows"),
            (&s.max_concurrent_requests, "max_concurrent_requests"),
        ];
        for (v, name) in counts {
            if *v.get_ref() == 0 {
                return self.err(v.span(), format!("server.{name}"), "must be at least 1");
            }
        }
        // A write is admitted whole or not at all: a queue smaller than the
        // largest write would refuse that write for ever.
        if s.max_rows_per_write.get_ref() > s.write_queue_rows.get_ref() {
            let m = format!(
                "must be at least max_rows_per_write ({})",
                s.max_rows_per_write.get_ref()
            );
            // Point at whichever of the two the file sets.
            let at = match s.write_queue_rows.span() {
                span if span.is_empty() => s.max_rows_per_write.span(),
                span => span,
            };
            return self.err(at, "server.write_queue_rows".into(), m);
        }
        if *s.write_linger_ms.get_ref() > 10_000 {
            let at = s.write_linger_ms.span();
            return self.err(at, "server.write_linger_ms".into(), "must be at most 10000");
        }
        for (key, secs) in [
            ("request_timeout_secs", &s.request_timeout_secs),
            ("header_read_timeout_secs", &s.header_read_timeout_secs),
        ] {
            if *secs.get_ref() == 0 {
                let at = secs.span();
                return self.err(at, format!("server.{key}"), "must be at least 1");
            }
        }
        s.auth.as_ref().map_or(Ok(()), |a| self.auth(a))
    }

    /// Each token from one place; at least one token.
    pub(super) fn auth(&self, a: &AuthConfig) -> Result<(), ConfigError> {
        for (kind, env, file) in [
            ("read", &a.read_token_env, &a.read_token_file),
            ("write", &a.write_token_env, &a.write_token_file),
        ] {
            if let (Some(_), Some(f)) = (env, file) {
                let m = format!("give {kind}_token_env or {kind}_token_file, not both");
                return self.err(f.span(), format!("server.auth.{kind}_token_file"), m);
            }
        }
        let none = [&a.read_token_env, &a.write_token_env]
            .iter()
            .all(|t| t.is_none())
            && [&a.read_token_file, &a.write_token_file]
                .iter()
                .all(|t| t.is_none());
        if none {
            let m =
                "set read_token_env / read_token_file, write_token_env / write_token_file, or both";
            let at = self.src.find("[server.auth]").unwrap_or(0);
            return self.err(at..at, "server.auth".into(), m);
        }
        Ok(())
    }

    /// Each entry names a view, or a view's feature (not its primary key).
    pub(super) fn feature_service(
        &self,
        c: &Config,
        s: &FeatureServiceConfig,
    ) -> Result<(), ConfigError> {
        let key = || format!("feature_service[{}].features", s.name.get_ref());
        if s.features.is_empty() {
            return self.err(
                s.name.span(),
                key(),
                "list at least one \"view\" or \"view:feature\"",
            );
        }
        for f in &s.features {
            let (view, feature) = match f.get_ref().split_once(':') {
                Some((v, feat)) => (v, Some(feat)),
                None => (f.get_ref().as_str(), None),
            };
            let Some(v) = c.view(view) else {
                let m = format!("{:?}: no [[feature_view]] named {view:?}", f.get_ref());
                return self.err(f.span(), key(), m);
            };
            let known = |name: &str| {
                v.fields
                    .iter()
                    .any(|x| !x.primary_key && x.name.get_ref() == name)
            };
            if let Some(feature) = feature.filter(|n| !known(n)) {
                let m = format!("{:?}: view {view} has no feature {feature:?}", f.get_ref());
                return self.err(f.span(), key(), m);
            }
        }
        Ok(())
    }
}
